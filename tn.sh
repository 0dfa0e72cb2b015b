export PERL5LIB=$PWD/build/test-nginx/root/usr/share/perl5 TEST_NGINX_BINARY=/usr/sbin/nginx TEST_NGINX_RANDOMIZE=1 TEST_NGINX_LOAD_MODULES=$PWD/build/ngx_http_v3xy_module.so; exec prove "$@"

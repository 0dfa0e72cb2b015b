# The per-recipient limit counts mailboxes, not spellings: $v3xy_body_email
# is the canonical form of the body's "email" (case, a trailing dot of the
# domain, Unicode compatibility forms, +tag subaddresses folded), and an
# address that is not a plain local@domain is refused with 400
# body_invalid.  After 10 sends to one mailbox, no other spelling of it is
# admitted; another mailbox is.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use V3xy qw(start_echo);

start_echo();

our $Url = 'POST /v1/developer/verify/send-code';

# one request of a pipeline: the JSON string literal of its email
sub send_to { "$::Url\n{\"email\":\"$_[0]\",\"purpose\":\"signup\"}" }

# 10 sends to victim@x.com, admitted; then the 11th is refused
our @Ten = ((send_to('victim@x.com')) x 10);
our @TenOk = ((200) x 10);

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', <<'_EOC_') unless defined $block->http_config;
    v3xy_limit_zone verify rate=10r/h key=$v3xy_body_email;
_EOC_

    $block->set_value('config', <<'_EOC_') unless defined $block->config;
    client_body_buffer_size 1k;

    location = /v1/developer/verify/send-code {
        v3xy_limit verify;
        add_header X-Email $v3xy_body_email always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
_EOC_

    $block->set_value('more_headers', "Content-Type: application/json")
        unless defined $block->more_headers;
});

log_level('info');
no_shuffle();
no_long_string();
run_tests();

__DATA__

=== TEST 1: one mailbox is one bucket: the spellings that fold are 429 after 10 sends
--- pipelined_requests eval
[@::Ten,
 ::send_to('victim@x.com'),
 ::send_to('victim+1@x.com'),
 ::send_to('victim+news+2@x.com'),
 ::send_to('victim@x.com.'),
 ::send_to('VICTIM@X.COM'),
 ::send_to('  Victim@x.Com. '),
 ::send_to('\uff56ictim@x.com'),
 ::send_to('victim@\uff58.com'),
 ::send_to('victim@x\u3002com'),
 ::send_to('other@x.com')]
--- error_code eval
[@::TenOk, 429, 429, 429, 429, 429, 429, 429, 429, 429, 200]
--- response_headers_like eval
[(("X-Email: victim\@x\\.com") x 10),
 (("X-Email: victim\@x\\.com\nRetry-After: \\d+") x 9),
 "X-Email: other\@x\\.com\nRateLimit: \"verify\";r=9;t=\\d+"]



=== TEST 2: the spellings that are not a plain local@domain are 400 body_invalid, never admitted
--- pipelined_requests eval
[@::Ten,
 ::send_to('\"victim\"@x.com'),
 ::send_to('victim(c)@x.com'),
 ::send_to('Victim <victim@x.com>'),
 ::send_to('<victim@x.com>'),
 ::send_to('victim@x.com\u00a0'),
 ::send_to('vic\u200btim@x.com'),
 ::send_to('victim@x.com\u200b'),
 ::send_to('\u202evictim@x.com'),
 ::send_to('victim\u00ad@x.com'),
 ::send_to('a@b@x.com'),
 ::send_to('victim\uff20x.com'),
 ::send_to('@x.com'),
 ::send_to('victim@'),
 ::send_to('+victim@x.com'),
 ::send_to('victim@[127.0.0.1]'),
 ::send_to('vic\u0000tim@x.com'),
 ::send_to('victim@x.com')]
--- error_code eval
[@::TenOk, 400, 400, 400, 400, 400, 400, 400, 400, 400, 400, 400, 400,
 400, 400, 400, 400, 429]
--- response_body_like eval
[((qr/"email":"victim\@x\.com"/) x 10),
 qr/"error":"The \\"email\\" field must be a plain address \(local\@domain\), without display name, comment or quotes\.","code":"body_invalid"/,
 qr/"code":"body_invalid"/,
 qr/"error":"The \\"email\\" field holds white space, control or invisible characters\.","code":"body_invalid"/,
 qr/"code":"body_invalid"/,
 qr/"code":"body_invalid"/,
 qr/"code":"body_invalid"/,
 qr/"code":"body_invalid"/,
 qr/"code":"body_invalid"/,
 qr/"code":"body_invalid"/,
 qr/"error":"The \\"email\\" field is not an email address\.","code":"body_invalid"/,
 qr/"code":"body_invalid"/,
 qr/"code":"body_invalid"/,
 qr/"code":"body_invalid"/,
 qr/"error":"The \\"email\\" field has no mailbox before its \\"\+\\"\.","code":"body_invalid"/,
 qr/"error":"The domain of the \\"email\\" field is not a host name\.","code":"body_invalid"/,
 qr/"code":"body_invalid"/,
 qr/"code":"rate_limited"/]



=== TEST 3: U+212A KELVIN SIGN is the "k" of the same mailbox (raw UTF-8 and \u escape)
--- pipelined_requests eval
[((::send_to('kate@x.com')) x 10),
 ::send_to("\xe2\x84\xaaate\@x.com"),
 ::send_to('\u212aate@x.com'),
 ::send_to('KATE@x.com'),
 ::send_to('kat@x.com')]
--- error_code eval
[@::TenOk, 429, 429, 429, 200]
--- response_headers_like eval
[(("X-Email: kate\@x\\.com") x 13), "X-Email: kat\@x\\.com"]



=== TEST 4: legitimate neighbours are other mailboxes: each admitted after 10 sends to victim@x.com, in its own canonical form
--- pipelined_requests eval
[@::Ten,
 ::send_to('Victim1+a@x.com'),
 ::send_to('Vic.Tim+b@X.com.'),
 ::send_to('victim@x.CO.'),
 ::send_to('victim@Y.x.com'),
 ::send_to('victim-1+c@x.com'),
 ::send_to('VICT\u0406M@x.com')]
--- error_code eval
[@::TenOk, 200, 200, 200, 200, 200, 200]
--- response_headers_like eval
[(("X-Email: victim\@x\\.com") x 10),
 "X-Email: victim1\@x\\.com\$",
 "X-Email: vic\\.tim\@x\\.com\$",
 "X-Email: victim\@x\\.co\$",
 "X-Email: victim\@y\\.x\\.com\$",
 "X-Email: victim-1\@x\\.com\$",
 "X-Email: vict\xd1\x96m\@x\\.com\$"]



=== TEST 5: an internationalized address: precomposed and decomposed are one key, the domain in its lookup form
--- pipelined_requests eval
[((::send_to("j\xc3\xb6hn\@ex\xc3\xa4mple.de")) x 10),
 ::send_to("jo\xcc\x88hn\@exa\xcc\x88mple.de"),
 ::send_to('J\u00d6HN@EX\u00c4MPLE.DE'),
 ::send_to("j\xc3\xb6hn\@xn--exmple-cua.de"),
 ::send_to("john\@example.de")]
--- error_code eval
[@::TenOk, 429, 429, 429, 200]
--- response_headers_like eval
[(("X-Email: j\xc3\xb6hn\@xn--exmple-cua\\.de") x 13),
 "X-Email: john\@example\\.de"]



=== TEST 6: v3xy_body_email_subaddress keep: victim+1@x.com is a mailbox of its own
--- config
    client_body_buffer_size 1k;
    v3xy_body_email_subaddress keep;

    location = /v1/developer/verify/send-code {
        v3xy_limit verify;
        add_header X-Email $v3xy_body_email always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- pipelined_requests eval
[@::Ten,
 ::send_to('victim+1@x.com'),
 ::send_to('Victim+News@X.com.'),
 ::send_to('victim@x.com'),
 ::send_to('+1@x.com')]
--- error_code eval
[@::TenOk, 200, 200, 429, 400]
--- response_headers_like eval
[(("X-Email: victim\@x\\.com") x 10),
 "X-Email: victim\\+1\@x\\.com",
 "X-Email: victim\\+news\@x\\.com",
 "X-Email: victim\@x\\.com",
 ""]



=== TEST 7: v3xy_body_email_subaddress fold is the default, and a location can set it back
--- config
    client_body_buffer_size 1k;
    v3xy_body_email_subaddress keep;

    location = /v1/developer/verify/send-code {
        v3xy_body_email_subaddress fold;
        v3xy_limit verify;
        add_header X-Email $v3xy_body_email always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_ECHO_PORT;
    }
--- request eval
::send_to('Victim+1@x.com')
--- error_code: 200
--- response_headers
X-Email: victim@x.com



=== TEST 8: v3xy_body_email_subaddress takes fold or keep only
--- config
    v3xy_body_email_subaddress drop;

    location /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid value "drop" in .*nginx\.conf:\d+/



=== TEST 9: a refused address is logged at info by its reason, never by its value
--- request eval
::send_to('\"secret-victim\" <secret-victim@x.com>')
--- error_code: 400
--- error_log
v3xy: body_invalid: The "email" field holds white space, control or invisible characters.
--- no_error_log
secret-victim
[error]



=== TEST 10: the upstream still gets the body as the client sent it
--- request eval
::send_to('Victim+Tag@X.com.')
--- error_code: 200
--- response_headers
X-Email: victim@x.com
--- response_body_like: \r\n\r\n\{"email":"Victim\+Tag\@X\.com\.","purpose":"signup"\}\z

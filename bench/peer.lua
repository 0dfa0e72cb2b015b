-- bench/peer.lua: the peer of bench/limits.sh and bench/scale.sh, the
-- OpenResty way a user would pick instead of v3xy_limit: a fixed window of
-- one counter a key, INCR and EXPIRE pipelined in one round trip
-- (resty.redis, Debian's lua-nginx-redis), on a keepalive pool.  Not
-- exact: up to 2N in a rolling window.  Each script points
-- lua_package_path at bench/.

local redis = require "nginx.redis"

local _M = {}

local function fail(err)
    ngx.log(ngx.ERR, "peer: redis: ", err)
    return ngx.exit(503)
end

function _M.limit(zone, n, window, port)
    local key = ngx.var.http_x_merchant
    if not key or key == "" then
        return
    end

    local red = redis:new()
    red:set_timeout(1000)

    local ok, err = red:connect("127.0.0.1", port)
    if not ok then
        return fail(err)
    end

    local now = ngx.now()
    local k = "peer:{" .. zone .. ":" .. key .. "}:"
              .. math.floor(now / window)

    red:init_pipeline(2)
    red:incr(k)
    red:expire(k, window)
    local res
    res, err = red:commit_pipeline()
    if not res then
        return fail(err)
    end

    red:set_keepalive(10000, 100)

    local count = res[1]
    if type(count) ~= "number" then
        return fail(tostring(count and count[2]))
    end

    if count > n then
        ngx.header["Retry-After"] = math.ceil(window - now % window)
        return ngx.exit(429)
    end
end

return _M

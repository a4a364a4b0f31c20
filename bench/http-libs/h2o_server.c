// bench/http-libs: libh2o (Debian libh2o-evloop) answering every request as mhd_server.c does — one
// event-loop thread, every request header visited, 200 with two headers and no body. HTTP/1.1 and h2c
// (prior knowledge). Prints its port; runs until killed.
#include <h2o.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

static h2o_globalconf_t config;
static h2o_context_t ctx;
static h2o_accept_ctx_t accept_ctx;

static int on_req(h2o_handler_t *self, h2o_req_t *req) {
    (void)self;
    size_t bytes = 0;
    for (size_t i = 0; i != req->headers.size; ++i) bytes += req->headers.entries[i].name->len + req->headers.entries[i].value.len;
    (void)bytes;
    req->res.status = 200;
    req->res.reason = "OK";
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-jwt-sub"), 0, NULL, H2O_STRLIT("alice"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-envoy-auth-headers-to-remove"), 0, NULL,
                          H2O_STRLIT("authorization"));
    h2o_send_inline(req, "", 0);
    return 0;
}

static void on_accept(h2o_socket_t *listener, const char *err) {
    if (err != NULL) return;
    h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
    if (sock != NULL) h2o_accept(&accept_ctx, sock);
}

int main(void) {
    h2o_config_init(&config);
    h2o_hostconf_t *host = h2o_config_register_host(&config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    h2o_handler_t *handler = h2o_create_handler(path, sizeof(*handler));
    handler->on_req = on_req;
    h2o_context_init(&ctx, h2o_evloop_create(), &config);
    accept_ctx.ctx = &ctx;
    accept_ctx.hosts = config.hosts;

    int fd = socket(AF_INET, SOCK_STREAM, 0), on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001), .sin_port = 0};
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 || listen(fd, SOMAXCONN) != 0) return 1;
    socklen_t len = sizeof(addr);
    getsockname(fd, (struct sockaddr *)&addr, &len);
    printf("%u\n", (unsigned)ntohs(addr.sin_port));
    fflush(stdout);
    h2o_socket_t *listener = h2o_evloop_socket_create(ctx.loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    h2o_socket_read_start(listener, on_accept);
    while (h2o_evloop_run(ctx.loop, INT32_MAX) == 0) {}
    return 0;
}

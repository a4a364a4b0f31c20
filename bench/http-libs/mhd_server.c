// bench/http-libs: libmicrohttpd answering every request as Warden's front door answers an allow —
// the options Warden uses (internal polling thread, suspend/resume allowed, raw URLs), every request
// header visited, 200 with two headers and no body. Prints its port; runs until killed.
#include <microhttpd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static size_t no_unescape(void *cls, struct MHD_Connection *c, char *s) { (void)cls; (void)c; return strlen(s); }

static enum MHD_Result visit(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
    (void)kind;
    *(size_t *)cls += strlen(key) + (value ? strlen(value) : 0);
    return MHD_YES;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *connection, const char *url, const char *method,
                               const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls) {
    (void)cls; (void)url; (void)method; (void)version; (void)upload_data;
    if (*con_cls == NULL) { *con_cls = (void *)1; return MHD_YES; }
    if (*upload_data_size) { *upload_data_size = 0; return MHD_YES; }
    size_t bytes = 0;
    MHD_get_connection_values(connection, MHD_HEADER_KIND, visit, &bytes);
    struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, "x-jwt-sub", "alice");
    MHD_add_response_header(r, "x-envoy-auth-headers-to-remove", "authorization");
    enum MHD_Result ok = MHD_queue_response(connection, 200, r);
    MHD_destroy_response(r);
    return ok;
}

int main(void) {
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_ALLOW_SUSPEND_RESUME, 0, NULL, NULL, handler, NULL,
        MHD_OPTION_CONNECTION_LIMIT, 4096u, MHD_OPTION_CONNECTION_TIMEOUT, 60u,
        MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, NULL, MHD_OPTION_END);
    if (!d) return 1;
    printf("%u\n", (unsigned)MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port);
    fflush(stdout);
    for (;;) pause();
}

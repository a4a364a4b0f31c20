#include "warden_mhd.h"
#include <errno.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

// Leaves the path as sent: the front door decides on the raw request target, as Envoy does.
static size_t warden_mhd_no_unescape(void *cls, struct MHD_Connection *connection, char *s) {
    (void)cls;
    (void)connection;
    return strlen(s);
}

struct MHD_Daemon *warden_mhd_start_server(const struct sockaddr *address, int ipv6,
                                           struct warden_mhd_limits limits,
                                           MHD_AccessHandlerCallback handler, void *handler_context,
                                           void *(*uri_log)(void *cls, const char *uri, struct MHD_Connection *connection),
                                           MHD_RequestCompletedCallback completed,
                                           int *error_out) {
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
    if (ipv6) flags |= MHD_USE_IPv6;
    if (limits.suspend_resume) flags |= MHD_ALLOW_SUSPEND_RESUME;
    if (limits.no_listen_socket) flags |= MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC;
    errno = 0;
    // The sockaddr decides where to bind; the port argument only feeds libmicrohttpd's log messages.
    uint16_t port = 0;
    if (address->sa_family == AF_INET) port = ntohs(((const struct sockaddr_in *)address)->sin_port);
    else if (address->sa_family == AF_INET6) port = ntohs(((const struct sockaddr_in6 *)address)->sin6_port);
    struct MHD_OptionItem options[8];
    int n = 0;
    if (!limits.no_listen_socket) options[n++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, (void *)address};
    options[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, limits.connection_limit, NULL};
    options[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, limits.connection_timeout_seconds, NULL};
    options[n++] = (struct MHD_OptionItem){MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)warden_mhd_no_unescape, NULL};
    if (limits.thread_pool_size > 1)
        options[n++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, limits.thread_pool_size, NULL};
    if (limits.connection_memory_limit > 0)
        options[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)limits.connection_memory_limit, NULL};
    options[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    struct MHD_Daemon *daemon;
    if (uri_log && completed) {
        daemon = MHD_start_daemon(flags, port, NULL, NULL, handler, handler_context,
                                  MHD_OPTION_ARRAY, options,
                                  MHD_OPTION_URI_LOG_CALLBACK, uri_log, handler_context,
                                  MHD_OPTION_NOTIFY_COMPLETED, completed, handler_context,
                                  MHD_OPTION_END);
    } else {
        daemon = MHD_start_daemon(flags, port, NULL, NULL, handler, handler_context,
                                  MHD_OPTION_ARRAY, options, MHD_OPTION_END);
    }
    if (error_out) *error_out = daemon ? 0 : errno;
    return daemon;
}

uint16_t warden_mhd_bound_port(struct MHD_Daemon *daemon) {
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
    return info ? info->port : 0;
}

int warden_mhd_client_address(struct MHD_Connection *connection, char *out, size_t out_len, uint16_t *port_out) {
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!info || !info->client_addr) return 0;
    const struct sockaddr *sa = info->client_addr;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        if (!inet_ntop(AF_INET, &in->sin_addr, out, (socklen_t)out_len)) return 0;
        *port_out = ntohs(in->sin_port);
        return 1;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        if (!inet_ntop(AF_INET6, &in6->sin6_addr, out, (socklen_t)out_len)) return 0;
        *port_out = ntohs(in6->sin6_port);
        return 1;
    }
    return 0;
}

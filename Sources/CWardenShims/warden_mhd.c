#include "warden_mhd.h"
#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>

struct MHD_Daemon *warden_mhd_start(const struct sockaddr *address, int ipv6,
                                    unsigned int connection_limit,
                                    unsigned int connection_timeout_seconds,
                                    MHD_AccessHandlerCallback handler, void *handler_context,
                                    int *error_out) {
    unsigned int flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
    if (ipv6) flags |= MHD_USE_IPv6;
    errno = 0;
    // The sockaddr decides where to bind; the port argument only feeds libmicrohttpd's log messages.
    uint16_t port = 0;
    if (address->sa_family == AF_INET) port = ntohs(((const struct sockaddr_in *)address)->sin_port);
    else if (address->sa_family == AF_INET6) port = ntohs(((const struct sockaddr_in6 *)address)->sin6_port);
    struct MHD_Daemon *daemon = MHD_start_daemon(
        flags, port, NULL, NULL, handler, handler_context,
        MHD_OPTION_SOCK_ADDR, address,
        MHD_OPTION_CONNECTION_LIMIT, connection_limit,
        MHD_OPTION_CONNECTION_TIMEOUT, connection_timeout_seconds,
        MHD_OPTION_END);
    if (error_out) *error_out = daemon ? 0 : errno;
    return daemon;
}

uint16_t warden_mhd_bound_port(struct MHD_Daemon *daemon) {
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
    return info ? info->port : 0;
}

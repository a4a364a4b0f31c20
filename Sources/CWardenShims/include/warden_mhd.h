#ifndef WARDEN_MHD_H
#define WARDEN_MHD_H
// Non-variadic wrappers around libmicrohttpd's variadic entry points (MHD_start_daemon,
// MHD_get_daemon_info), callable from Swift.
#include <stdint.h>
#include <sys/socket.h>
#include <microhttpd.h>

/// Starts a daemon with an internal polling thread, bound exactly to `address`
/// (MHD_OPTION_SOCK_ADDR). `ipv6` must be non-zero when `address` is a sockaddr_in6.
/// Returns NULL on failure and stores the errno observed right after the failure in `*error_out`.
struct MHD_Daemon *warden_mhd_start(const struct sockaddr *address, int ipv6,
                                    unsigned int connection_limit,
                                    unsigned int connection_timeout_seconds,
                                    MHD_AccessHandlerCallback handler, void *handler_context,
                                    int *error_out);

/// The port the daemon's listening socket is bound to (0 when unknown).
uint16_t warden_mhd_bound_port(struct MHD_Daemon *daemon);

#endif

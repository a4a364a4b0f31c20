// libh2o built with its own event loop (Debian libh2o-evloop-dev), not libuv. Only CWardenShims'
// warden_h2o.c includes it; Swift sees the opaque API in warden_h2o.h.
#ifndef H2O_USE_LIBUV
#define H2O_USE_LIBUV 0
#endif
#include <h2o.h>

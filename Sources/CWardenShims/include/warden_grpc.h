#ifndef WARDEN_GRPC_H
#define WARDEN_GRPC_H
// static inline wrappers for what Swift cannot call in this library (macros, variadics).
#endif

#ifndef WARDEN_OPENSSL_H
#define WARDEN_OPENSSL_H
// static inline wrappers for what Swift cannot call in this library (macros, variadics).
#endif

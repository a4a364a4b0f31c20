#ifndef WARDEN_MHD_H
#define WARDEN_MHD_H
// static inline wrappers for what Swift cannot call in this library (macros, variadics).
#endif

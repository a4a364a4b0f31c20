#ifndef WARDEN_CURL_H
#define WARDEN_CURL_H
// static inline wrappers for what Swift cannot call in this library (macros, variadics).
#endif

#ifndef CWARDEN_SHIMS_H
#define CWARDEN_SHIMS_H
#include "warden_grpc.h"
#include "warden_openssl.h"
#include "warden_curl.h"
#include "warden_mhd.h"
#include "warden_h2o.h"
#endif

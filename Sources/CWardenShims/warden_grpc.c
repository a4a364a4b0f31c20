#include "warden_grpc.h"

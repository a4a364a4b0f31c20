#include "warden_mhd.h"

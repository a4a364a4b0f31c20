#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/targets/ into .build/fuzz/bin/.
#
# SwiftPM cannot link a -sanitize=fuzzer executable (it looks for `<target>_main`), so the library
# modules a target needs are compiled here with swiftc, each into one object + .swiftmodule, with
# coverage instrumentation and AddressSanitizer; each target is then linked against them with
# libFuzzer's main. libFuzzer's runtime ships with the Swift toolchain (lib/clang/*/lib/linux).
#
# Usage: fuzz/build.sh [target…]      (default: every fuzz/targets/*.swift)
# Env:   SWIFTC (default swiftc), CLANG (default: clang next to swiftc), FUZZ_SANITIZERS (fuzzer,address)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/.build/fuzz
SWIFTC=${SWIFTC:-swiftc}
CLANG=${CLANG:-$(dirname "$(command -v "$SWIFTC")")/clang}
SAN=${FUZZ_SANITIZERS:-fuzzer,address}
mkdir -p "$out/modules" "$out/obj" "$out/bin" "$out/include/CWardenShims"

# A module map for the shim target (SwiftPM generates one; we are not SwiftPM here).
cat > "$out/include/CWardenShims/module.modulemap" <<MAP
module CWardenShims {
    umbrella header "$root/Sources/CWardenShims/include/CWardenShims.h"
    export *
}
MAP

common=(-swift-version 6 -O -g -parse-as-library -package-name warden -sanitize="$SAN"
        -I "$out/modules" -I "$root/Sources/CYAML" -I "$root/Sources/COpenSSL" -I "$root/Sources/CCurl" -I "$out/include/CWardenShims")

# module: dependency order matters.
# WardenExtAuthz sits on the Check path (WardenAuthz → WardenJWKS, which links libcurl).
modules=(WardenSync WardenJSON WardenProtobuf WardenYAML WardenPolicy WardenCrypto WardenJWT WardenJWKS WardenIntrospection WardenTrace WardenAuthz WardenExtAuthz WardenHTTPAuthz)

build_module() {
    local name=$1 stamp=$out/obj/$1.o
    local srcs=("$root"/Sources/"$name"/*.swift)
    # Rebuild when a source or this script is newer than the object, or a dependency was rebuilt.
    if [[ $rebuilt == 0 && -f $stamp ]] && [[ -z $(find "${srcs[@]}" "$0" -newer "$stamp" 2>/dev/null | head -1) ]]; then
        return
    fi
    rebuilt=1
    echo "==> module $name"
    "$SWIFTC" "${common[@]}" -module-name "$name" -wmo \
        -emit-module -emit-module-path "$out/modules/$name.swiftmodule" \
        -c "${srcs[@]}" -o "$stamp"
}
rebuilt=0
for m in "${modules[@]}"; do build_module "$m"; done

# The only shim code these modules call is OpenSSL's (header-inline helpers plus warden_openssl.c).
if [[ ! -f $out/obj/warden_openssl.o || $root/Sources/CWardenShims/warden_openssl.c -nt $out/obj/warden_openssl.o ]]; then
    "$CLANG" -O1 -g -fsanitize=address -I "$root/Sources/CWardenShims/include" \
        -c "$root/Sources/CWardenShims/warden_openssl.c" -o "$out/obj/warden_openssl.o"
fi

targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
    for f in "$root"/fuzz/targets/*.swift; do targets+=("$(basename "$f" .swift)"); done
fi
objs=("$out"/obj/*.o)
for t in "${targets[@]}"; do
    bin=$out/bin/fuzz-$t
    if [[ -x $bin && $rebuilt == 0 && ! $root/fuzz/targets/$t.swift -nt $bin && ! $0 -nt $bin ]]; then continue; fi
    echo "==> fuzz target $t"
    "$SWIFTC" "${common[@]}" -module-name "Fuzz$t" "$root/fuzz/targets/$t.swift" "${objs[@]}" \
        -use-ld=lld -lcrypto -lyaml -lcurl -o "$out/bin/fuzz-$t"
done

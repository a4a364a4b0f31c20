// swift-tools-version: 6.0
import PackageDescription

// Layers (dependencies point inward; docs/architecture.md):
//   warden → {WardenGRPC, WardenAdmin, WardenExtAuthz}
//   WardenExtAuthz (the Envoy wire edge) → {WardenProtobuf, WardenAuthz}
//   WardenAuthz (the socket-free Check path) → {WardenPolicy, WardenJWKS, WardenJWT}
//   WardenJWT → {WardenCrypto, WardenJSON};  every module that locks → WardenSync
// Only the C* targets and the module that wraps each of them touch C.
let package = Package(
    name: "Warden",
    products: [
        .executable(name: "warden", targets: ["warden"]),
        .executable(name: "warden-transport-bench", targets: ["warden-transport-bench"]),
    ],
    targets: [
        // System libraries: module maps only.
        .systemLibrary(name: "CGRPC", path: "Sources/CGRPC"),
        .systemLibrary(name: "COpenSSL", path: "Sources/COpenSSL", pkgConfig: "libcrypto"),
        .systemLibrary(name: "CYAML", path: "Sources/CYAML", pkgConfig: "yaml-0.1"),
        .systemLibrary(name: "CCurl", path: "Sources/CCurl", pkgConfig: "libcurl"),
        .systemLibrary(name: "CMicroHTTPD", path: "Sources/CMicroHTTPD", pkgConfig: "libmicrohttpd"),
        .systemLibrary(name: "CHiredis", path: "Sources/CHiredis", pkgConfig: "hiredis"),
        .systemLibrary(name: "CH2O", path: "Sources/CH2O", pkgConfig: "libh2o-evloop"),
        // C helpers for macros, inline and variadic functions (every symbol prefixed `warden_`).
        .target(name: "CWardenShims", dependencies: ["CGRPC", "COpenSSL", "CCurl", "CMicroHTTPD", "CH2O"],
                cSettings: [.define("H2O_USE_LIBUV", to: "0"),
                            // khash.h, which libh2o's http2_internal.h includes and Debian does not ship: Warden's own
                            // declaration of the stream table's layout (h2o-khash/khash.h)
                            .headerSearchPath("h2o-khash")]),

        // Pure Swift layers.
        .target(name: "WardenSync"),
        .target(name: "WardenProtobuf"),
        .target(name: "WardenTrace"),
        .target(name: "WardenOTLP", dependencies: ["WardenTrace", "WardenProtobuf", "WardenSync", "CCurl", "CWardenShims"]),
        .target(name: "WardenExtAuthz", dependencies: ["WardenProtobuf", "WardenAuthz", "WardenPolicy", "WardenJSON", "WardenSync"]),
        .target(name: "WardenJSON"),
        .target(name: "WardenCrypto", dependencies: ["COpenSSL", "CWardenShims", "WardenSync"]),
        .target(name: "WardenJWT", dependencies: ["WardenCrypto", "WardenJSON", "WardenSync"]),
        .target(name: "WardenJWKS", dependencies: ["WardenJWT", "WardenJSON", "WardenSync", "CCurl", "CWardenShims"]),
        .target(name: "WardenYAML", dependencies: ["CYAML"]),
        .target(name: "WardenPolicy", dependencies: ["WardenYAML", "WardenJSON"]),
        .target(name: "WardenIntrospection", dependencies: ["WardenJWKS", "WardenJWT", "WardenCrypto", "WardenJSON", "WardenSync"]),
        .target(name: "WardenAuthz", dependencies: ["WardenPolicy", "WardenJWKS", "WardenJWT", "WardenJSON", "WardenSync", "WardenIntrospection", "WardenTrace"]),
        .target(name: "WardenGRPC", dependencies: ["CGRPC", "CWardenShims", "WardenSync"]),
        .target(name: "WardenHTTPServer", dependencies: ["CMicroHTTPD", "CWardenShims", "WardenSync"]),
        .target(name: "WardenAdmin", dependencies: ["WardenHTTPServer"]),
        .target(name: "WardenHTTPAuthz", dependencies: ["WardenAuthz", "WardenPolicy", "WardenJSON"]),
        .target(name: "WardenRedis", dependencies: ["CHiredis", "WardenSync"]),
        // Bench harness only (make bench): the gRPC transport answering a constant allow.
        .executableTarget(name: "warden-transport-bench", dependencies: ["WardenGRPC", "WardenAdmin", "WardenAuthz", "WardenExtAuthz"]),
        .executableTarget(name: "warden", dependencies: [
            "WardenGRPC", "WardenAdmin", "WardenAuthz", "WardenExtAuthz", "WardenPolicy", "WardenJWKS", "WardenJWT", "WardenJSON", "WardenCrypto",
            "WardenRedis", "WardenIntrospection", "WardenHTTPServer", "WardenHTTPAuthz", "WardenTrace", "WardenOTLP",
        ]),

        // Tests mirror modules.
        .testTarget(name: "WardenProtobufTests", dependencies: ["WardenProtobuf"], exclude: ["Fixtures"]),
        .testTarget(name: "WardenJSONTests", dependencies: ["WardenJSON"]),
        .testTarget(name: "WardenCryptoTests", dependencies: ["WardenCrypto"]),
        .testTarget(name: "WardenJWTTests", dependencies: ["WardenJWT", "WardenCrypto", "WardenJSON"], exclude: ["Fixtures"]),
        .testTarget(name: "WardenJWKSTests", dependencies: ["WardenJWKS", "WardenJWT", "WardenSync", "CMicroHTTPD"], exclude: ["Fixtures"]),
        .testTarget(name: "WardenPolicyTests", dependencies: ["WardenPolicy", "WardenYAML", "WardenJSON"], exclude: ["Fixtures"]),
        .testTarget(name: "WardenAuthzTests", dependencies: ["WardenAuthz", "WardenIntrospection", "WardenCrypto", "WardenPolicy", "WardenJWT", "WardenJWKS", "WardenJSON", "WardenSync", "WardenTrace"]),
        .testTarget(name: "WardenTraceTests", dependencies: ["WardenTrace", "WardenOTLP", "WardenProtobuf"], exclude: ["Fixtures"]),
        .testTarget(name: "WardenExtAuthzTests", dependencies: ["WardenExtAuthz", "WardenProtobuf", "WardenAuthz", "WardenCrypto", "WardenPolicy", "WardenJWT", "WardenJWKS", "WardenJSON"], exclude: ["Fixtures"]),
        .testTarget(name: "WardenGRPCTests", dependencies: ["WardenGRPC", "WardenSync", "CGRPC", "CWardenShims"]),
        .testTarget(name: "WardenAdminTests", dependencies: ["WardenAdmin", "WardenHTTPServer", "WardenSync"]),
        .testTarget(name: "WardenHTTPServerTests", dependencies: ["WardenHTTPServer", "WardenSync"]),
        .testTarget(name: "WardenHTTPAuthzTests", dependencies: ["WardenHTTPAuthz", "WardenAuthz", "WardenPolicy", "WardenJWT", "WardenJWKS", "WardenJSON", "WardenCrypto"]),
    ]
)

"""Fixtures for the Swift unit tests that real peers (protoc, xds-protos, joserfc, cryptography) produce.

`swift test` reads only committed files and starts no Python; these modules generate the files
(`python -m swift_fixtures.<module> --write` from Tests/IntegrationTests, or run the module's file) and
`test_swift_fixtures.py` regenerates and compares them on every integration run, so they cannot rot.
"""

#!/usr/bin/env bash
# Runs every test of swift-uio: the unit suites (discovery against a umockdev sysfs), then all
# of them again under ThreadSanitizer. Installs what it needs on Debian 12.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-packages.sh

ensure_packages pkg-config libudev-dev umockdev libumockdev-dev

tests=swift-uioPackageTests.xctest

echo "==> building the tests"
swift build --build-tests

echo "==> unit tests, with libudev reading a umockdev sysfs"
# The discovery suite fails instead of skipping when it is asked for and umockdev is not active.
SWIFT_UIO_REQUIRE_UMOCKDEV=1 umockdev-wrapper ".build/debug/$tests" --testing-library swift-testing

echo "==> the suites again under ThreadSanitizer (discovery, which needs umockdev's preload, skips)"
swift build --build-tests --sanitize=thread --scratch-path .build-tsan
TSAN_OPTIONS="halt_on_error=1" ".build-tsan/debug/$tests" --testing-library swift-testing

#!/bin/sh
# prebuildify calls this in place of node-gyp (its arguments are node-gyp's, not ours): build the addon
# with cmake-js; prebuildify then moves build/Release/grnewt.node into prebuilds/<platform>-<arch>/.
set -e
cd "$(dirname "$0")/.."
exec node node_modules/cmake-js/bin/cmake-js compile --log-level warn

// The Taylor route's two implementations against each other (taylor_routes_test.cpp); prints one line per
// case and returns the number of failures.
#pragma once

namespace grnewt::tests {

int taylor_routes_agree();

}  // namespace grnewt::tests

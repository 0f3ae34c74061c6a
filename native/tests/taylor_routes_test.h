// The Taylor route's two implementations against each other (taylor_routes_test.cpp); prints one line per
// case and returns the number of failures.
#pragma once

namespace grnewt::tests {

int taylor_routes_agree();

// Small convolutions as dense matrices (taylor_dense_conv_test.cpp): the number of failures.
int dense_convolutions_check();

// Winograd's 3×3 convolutions against ATen's (winograd_conv_test.cpp): the number of failures.
int winograd_convolutions_check();

}  // namespace grnewt::tests

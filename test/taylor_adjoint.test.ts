// test/taylor.test.ts once more with the Taylor route's adjoint implementation forced for every model, partition,
// loss and option (GRNEWT_TAYLOR_ROUTE is read by native/method/taylor_route_choice.cpp on every call; each test
// file runs in its own process): it must equal the autograd route at 1e-10 like the default choice.
process.env.GRNEWT_TAYLOR_ROUTE = 'adjoint';
await import('./taylor.test');

// test/taylor.test.ts once more with the Taylor route's jets implementation (all rows forward) forced for every model, partition,
// loss and option (GRNEWT_TAYLOR_ROUTE is read by native/method/taylor_route_choice.cpp on every call; each test
// file runs in its own process), with the batch cut into chunks of 2 samples (GRNEWT_TAYLOR_CHUNK): it must equal
// the autograd route at 1e-10 like the default choice.
process.env.GRNEWT_TAYLOR_ROUTE = 'jets';
process.env.GRNEWT_TAYLOR_CHUNK = '2';
await import('./taylor.test');

// test/taylor.test.ts once more with the Taylor route's adjoint implementation forced and the batch cut into
// chunks of 2 samples (GRNEWT_TAYLOR_CHUNK, read by native/method/taylor.cpp's plan_chunks on every call): the
// sums over the chunks, and the values pass's rows and λ taken chunk by chunk, must give the autograd route's
// summaries at 1e-10 like one chunk does. taylor_jets.test.ts does the same for the jets implementation.
process.env.GRNEWT_TAYLOR_ROUTE = 'adjoint';
process.env.GRNEWT_TAYLOR_CHUNK = '2';
await import('./taylor.test');

export { TensorDataset } from './dataset';
export { DataLoader, type DataLoaderOptions } from './data_loader';
export { readIdx, parseIdx, type IdxContents } from './idx';
export { fashionMnist, FASHION_MNIST_ROOT, EMBEDDED_ROOT, FASHION_MNIST_CLASSES, type FashionMnistOptions } from './fashion_mnist';

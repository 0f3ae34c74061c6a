export { Perceptron, type PerceptronOptions } from './perceptron';
export { LeNet, type LeNetOptions } from './lenet';
export { VGG, VGG_CONFIGS, type VGGOptions } from './vgg';
export { AutoencoderMLP } from './autoencoder';
export { activations, type Activation, type ReferenceOptions } from './init';

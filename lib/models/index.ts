export { Perceptron, activations, type Activation, type PerceptronOptions } from './perceptron';

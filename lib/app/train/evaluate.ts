// The test-set evaluation after each epoch (and before the first): mean loss, and accuracy for classifiers.
import { DataLoader } from '../../data/data_loader';
import type { TensorDataset } from '../../data/dataset';
import type { Module } from '../../nn/module';
import { tidy } from '../../core/tensor';
import type { TrainConfig } from './config';
import { onDevice, type Loss } from './build';

export function evaluate(model: Module, loss: Loss, test: TensorDataset, config: TrainConfig): { loss: number; accuracy: number | null } {
  const loader = new DataLoader(test, { batchSize: 1000 });
  let lossSum = 0,
    correct = 0;
  model.eval();
  for (const [x, y] of loader) {
    tidy(() => {
      const [xd, yd] = [onDevice(x, config), onDevice(y, config)];
      lossSum += loss(xd, yd).item() * x.shape[0];
      if (config.model.kind !== 'autoencoder') {
        const predicted = model.forward(xd).argmax(1).toArray(),
          labels = y.toArray();
        for (let i = 0; i < labels.length; i++) if (predicted[i] === labels[i]) correct++;
      }
    });
    x.dispose();
    y.dispose();
  }
  model.train();
  return { loss: lossSum / test.length, accuracy: config.model.kind === 'autoencoder' ? null : correct / test.length };
}

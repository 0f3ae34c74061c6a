// `grnewt train --init FILE --export FILE`: a state dict in, the trained one out, in the format each
// extension names (.pt/.pth/.bin through torch.save's format, .safetensors).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fit, loadSafetensors, loadTorch, models, saveSafetensors, saveTorch, trainConfig } from '../lib';

const bin = path.join(__dirname, '..', 'bin', 'grnewt.js');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'grnewt-cli-interop-'));
// SGD with learning rate 0 leaves the parameters as they start: the exported state dict must be the --init one.
const still = [
  '--data',
  'embedded',
  '--limit',
  '200',
  '--batch-size',
  '100',
  '--threads',
  '1',
  '--epochs',
  '1',
  '--layers',
  '8',
  '--optimizer',
  'sgd',
  '--sgd-lr',
  '0',
  '--sgd-momentum',
  '0',
  '--quiet',
];

function grnewt(args: string[]) {
  return spawnSync(process.execPath, [bin, 'train', ...args], { encoding: 'utf8' });
}

describe('grnewt train --init / --export', () => {
  const init = new models.Perceptron([784, 8, 10]).stateDict();

  it('starts from a .safetensors state dict and exports the trained model as a torch.save file', () => {
    const from = path.join(work, 'init.safetensors'),
      to = path.join(work, 'trained.pt');
    saveSafetensors(from, init);
    const r = grnewt([...still, '--init', from, '--export', to, '--out', path.join(work, 'a')]);
    expect(r.status, r.stderr).toBe(0);
    const back = loadTorch(to);
    expect(Object.keys(back)).toEqual(Object.keys(init));
    for (const [k, t] of Object.entries(init)) expect(back[k].toArray()).toEqual(t.toArray());
  });

  it('starts from a .pt state dict and exports .safetensors', () => {
    const from = path.join(work, 'init.pt'),
      to = path.join(work, 'trained.safetensors');
    saveTorch(from, init);
    const r = grnewt([...still, '--init', from, '--export', to, '--out', path.join(work, 'b')]);
    expect(r.status, r.stderr).toBe(0);
    const back = loadSafetensors(to);
    for (const [k, t] of Object.entries(init)) expect(back[k].toArray()).toEqual(t.toArray());
  });

  it('names what is wrong: an extension, a mismatched state dict, --init with --resume', () => {
    const txt = grnewt([...still, '--init', path.join(work, 'w.txt')]);
    expect(txt.status).not.toBe(0);
    expect(txt.stderr).toMatch(/--init.*expected a file ending in \.pt, \.pth, \.bin \(torch\.save\) or \.safetensors/);
    const wrong = path.join(work, 'wrong.pt');
    saveTorch(wrong, new models.Perceptron([784, 9, 10]).stateDict());
    const shape = grnewt([...still, '--init', wrong, '--out', path.join(work, 'c')]);
    expect(shape.status).not.toBe(0);
    expect(shape.stderr).toMatch(/init: loadStateDict: layers\.0\.weight has shape \[9,784\], the model's is \[8,784\]/);
    const both = grnewt([...still, '--init', wrong, '--resume', path.join(work, 'a', 'checkpoint.ckpt')]);
    expect(both.stderr).toMatch(/--init cannot be combined with --resume/);
  });

  it('fit() refuses init together with resume', async () => {
    await expect(fit(trainConfig({ epochs: 1 }), { init: init, resume: path.join(work, 'a', 'checkpoint.ckpt') })).rejects.toThrow(
      /fit: init and resume exclude each other/,
    );
  });
});

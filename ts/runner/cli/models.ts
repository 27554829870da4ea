/**
 * `libusb-wasm models`: the simulated device models, with their IDs and
 * the options a `--device` spec may give them.
 * @module
 */
import {
  COMMON_OPTIONS, createDevice, describeOptions, modelAliases, modelNames, modelOptions, modelsNeedingOptions,
} from '../../sim/models/index.js';

/** The text `libusb-wasm models` prints. */
export function describeModels(): string {
  const lines: string[] = [];
  for (const name of modelNames()) {
    const names = [name, ...modelAliases(name)].join(', ');
    lines.push(`${names}  (${createDevice(name).label})`);
    const options = describeOptions(modelOptions(name));
    lines.push(...(options.length ? options : ['(no options of its own)']).map((l) => `    ${l}`));
  }
  for (const { model, example } of modelsNeedingOptions()) {
    lines.push(`${model}  (built from what its spec gives, e.g. ${example})`);
    lines.push(...describeOptions(modelOptions(model)).map((l) => `    ${l}`));
  }
  lines.push('', 'every model also takes:', ...describeOptions(COMMON_OPTIONS).map((l) => `    ${l}`),
    '', 'e.g. --device msc:blocks=4096,image=disk.img --device hid:vendorId=1209,productId=0003');
  return lines.join('\n');
}

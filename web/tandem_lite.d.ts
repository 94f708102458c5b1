// TypeScript declarations for web/tandem_lite.js (tandem-lite on WebAssembly).

/** Thrown for every failure; the message says what was wrong. */
export class TandemLiteError extends Error {
  name: 'TandemLiteError';
}

export type DType = 'float32' | 'int8' | 'uint8' | 'int32' | 'int64';

/** A model input or output as stored: -1 marks a dynamic dimension (the batch). */
export interface ValueInfo {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: DType;
}

export interface Tensor {
  data: Float32Array;
  shape: number[];
}

/** Per input name: a tensor, or a Float32Array that takes the model's shape. */
export type Feeds = Record<string, Float32Array | Tensor>;

export class TandemLite {
  /** Loads a .tlite model from a URL (fetched), a path or file: URL (node), or its bytes (copied). */
  static load(source: string | URL | ArrayBuffer | ArrayBufferView): Promise<TandemLite>;
  readonly inputs: readonly ValueInfo[];
  readonly outputs: readonly ValueInfo[];
  /** Runs the model; every input must be given. Outputs are copies, keyed by output name. */
  run(feeds: Feeds): Promise<Record<string, Tensor>>;
  /** run() without the promise. */
  runSync(feeds: Feeds): Record<string, Tensor>;
  /** Frees the model's WebAssembly memory; later runs throw. */
  dispose(): void;
}

export interface ImageDataLike {
  data: Uint8ClampedArray | Uint8Array;
  width: number;
  height: number;
}

export interface ImageTensorOptions {
  /** 3 (RGB, default) or 1 (gray: the mean of R, G and B). */
  channels?: 1 | 3;
  /** 'nchw' (default) or 'nhwc'. */
  layout?: 'nchw' | 'nhwc';
  /** value = (byte / 255 - mean) / std, per channel or one for all (defaults 0 and 1). */
  mean?: number | number[];
  std?: number | number[];
}

/** An input tensor from RGBA pixels: shape [1, C, H, W] or [1, H, W, C]. */
export function tensorFromImageData(image: ImageDataLike, options?: ImageTensorOptions): Tensor;

export default TandemLite;

// Vite configuration for a page that runs libusb programs.
//
// SharedArrayBuffer, which libusb-wasm's workers share their memory
// through, needs a cross-origin isolated page: the dev server and the
// preview server send the two headers below on every response (the page
// and the worker scripts). Your production server must send them too.
const crossOriginIsolation = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

/** @type {import('vite').UserConfig} */
export default {
  server: { headers: crossOriginIsolation },
  preview: { headers: crossOriginIsolation },
  // Pre-bundling would move libusb-wasm's modules into node_modules/.vite,
  // away from the worker scripts they find next to themselves.
  optimizeDeps: { exclude: ['libusb-wasm'] },
};

// Points <model-viewer> at the decoders vendored into this site instead of its default CDN
// locations. It must run before model-viewer.min.js: model-viewer reads these settings from
// self.ModelViewerElement when its first element is made. Module scripts run in document
// order, so this file is listed before model-viewer's.

const vendor = new URL('../vendor/', import.meta.url);

self.ModelViewerElement = Object.assign(self.ModelViewerElement || {}, {
  dracoDecoderLocation: new URL('draco/', vendor).href,
  ktx2TranscoderLocation: new URL('basis/', vendor).href,
  meshoptDecoderLocation: new URL('meshopt/meshopt_decoder.js', vendor).href,
  lottieLoaderLocation: new URL('three/addons/loaders/LottieLoader.js', vendor).href,
});

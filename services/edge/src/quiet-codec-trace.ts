// mqtt-packet traces every parse step through the `debug` package (46 calls in its parser, 12
// in its writer), and each call builds its argument list and runs debug's enabled check even
// when no trace is on: parsing a stream of QoS 1 PUBLISHes ran 1.4-1.5x faster with the calls
// going nowhere (`npm run bench:codec`). So, unless DEBUG asks for traces, the edge
// process hands mqtt-packet a `debug` that does nothing; every other package keeps the real
// one. The codec itself is untouched. Imported first by main.ts: the hook must be in place
// before mqtt-packet is loaded.
import { registerHooks } from 'node:module';

const SILENT_DEBUG = 'roost:silent-debug';

if (!process.env.DEBUG) {
  registerHooks({
    resolve(specifier, context, nextResolve) {
      if (specifier === 'debug' && context.parentURL?.includes('/node_modules/mqtt-packet/')) return { url: SILENT_DEBUG, shortCircuit: true };
      return nextResolve(specifier, context);
    },
    load(url, context, nextLoad) {
      if (url === SILENT_DEBUG) return { format: 'commonjs', source: 'module.exports = () => function debug() {};', shortCircuit: true };
      return nextLoad(url, context);
    },
  });
}

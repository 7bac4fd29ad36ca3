// Builds ../static/ai-scheduler.js, the view Airflow's UI loads for the plugin's react_apps.
// React, its JSX runtime, Chakra UI and React Router are the host UI's own (Airflow sets them on globalThis),
// so the plugin looks and behaves like the rest of the UI (theme, light/dark) and the bundle stays small.
// The output is committed: a clean clone needs no Node. Rebuild with `npm ci && npm run build`.
import { build } from "esbuild";

const GLOBALS = {
  react: "React",
  "react/jsx-runtime": "ReactJSXRuntime",
  "react-dom": "ReactDOM",
  "@chakra-ui/react": "ChakraUI",
  "react-router-dom": "ReactRouterDOM",
};

const hostGlobals = {
  name: "host-globals",
  setup(b) {
    b.onResolve({ filter: /^(react|react\/jsx-runtime|react-dom|@chakra-ui\/react|react-router-dom)$/ }, (args) => ({
      path: args.path,
      namespace: "host-global",
    }));
    b.onLoad({ filter: /.*/, namespace: "host-global" }, (args) => ({
      contents: `module.exports = globalThis[${JSON.stringify(GLOBALS[args.path])}];`,
      loader: "js",
    }));
  },
};

await build({
  entryPoints: ["src/main.jsx"],
  bundle: true,
  minify: true,
  format: "esm",
  target: ["es2020"],
  jsx: "automatic",
  legalComments: "none",
  outfile: process.env.OUTFILE || "../static/ai-scheduler.js",
  plugins: [hostGlobals],
  logLevel: "warning",
});

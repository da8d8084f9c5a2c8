// ESLint flat config for the preview page's script (src/factdeck/preview_assets/*.js).
// Recommended rules, plus the ones that catch what a plain browser script gets wrong.
import js from "@eslint/js";
import globals from "globals";

export default [
  js.configs.recommended,
  {
    files: ["**/*.js"],
    languageOptions: {
      ecmaVersion: 2020,
      sourceType: "script", // inlined into index.html as a classic <script>
      globals: { ...globals.browser },
    },
    linterOptions: { reportUnusedDisableDirectives: "error" },
    rules: {
      strict: ["error", "function"],
      eqeqeq: ["error", "smart"], // `x != null` for "null or undefined" stays allowed
      "no-implicit-globals": "error",
      "no-shadow": "error",
      "no-use-before-define": ["error", { functions: false }],
      "no-prototype-builtins": "error",
      "no-eval": "error",
      "no-implied-eval": "error",
      "no-new-func": "error",
      "no-script-url": "error",
      "prefer-const": "off", // the script keeps one `var` style throughout
    },
  },
];

/**
 * Secrets that have been published (example files, documentation). Anyone can read them, so a
 * real relay or terminal must never accept them, however well-formed they look.
 */
const PUBLISHED = new Set([
  // device/examples/relay.secrets.json
  'pkey_test_replace_with_your_public_key',
  'skey_test_replace_with_your_secret_key',
  'cmVwbGFjZSB3aXRoIHRoZSBPbWlzZSB3ZWJob29rIHNlY3JldA==',
  'replace-with-a-random-token-of-32-characters-or-more',
  'replace-with-a-long-random-token-of-24-chars-or-more',
  // device/examples/terminal.secrets.json, the README and scripts/SETUP.md
  '482913',
  // the simulator's README
  'pkey_test_demo',
  'skey_test_demo',
]);

export function isPublishedSecret(value: string): boolean {
  return PUBLISHED.has(value.trim());
}

export const PUBLISHED_SECRET_MESSAGE = 'is an example value published with qrpos; use your own';

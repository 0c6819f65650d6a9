// Texts the product contract fixes, as the tests expect to read them.

/** The default password rules, as every form that sets a password lists them. */
export const DEFAULT_RULES = [
  'At least 8 characters',
  'An upper-case letter',
  'A lower-case letter',
  'A digit',
  'A special character, such as ! ? # or %',
  'Not a commonly used password',
  'Does not contain your name or email',
  'At most 128 characters',
];

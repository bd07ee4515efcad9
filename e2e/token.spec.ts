/**
 * The helpdesk flow: a relay that requires signed session tokens, a link minted with the
 * relay's mint-token CLI (token in the fragment), opened as is. A forged token and a reused
 * single-use token are explained in plain words.
 */
import { expect, mintToken, test } from './fixtures.ts';

test('a minted link lends at once; a forged or reused token is explained', async ({
  page,
  context,
  qemu,
  launchTokenRelay,
  snap,
}) => {
  const { relay, secretFile } = await launchTokenRelay();
  const { token, link } = await mintToken({ secretFile, baseUrl: relay.url });
  expect(link).toContain(`#token=${token}`);

  // Opened exactly as sent: the token is prefilled from the fragment.
  await page.goto(link);
  await page.getByText('Connection settings').click();
  await expect(page.getByLabel('Session token')).toHaveValue(token);
  await page.getByRole('button', { name: 'Try a virtual card' }).click();
  await expect(page.getByTestId('status-link')).toHaveAttribute('data-link', 'lent', {
    timeout: 20_000,
  });
  await qemu.waitForLog(/atr passes check/, 10_000);
  await page.getByRole('button', { name: 'Stop lending' }).click();
  await expect(page.getByTestId('status-link')).toHaveAttribute('data-link', 'stopped');

  // The same single-use token again: refused as used.
  await page.getByRole('button', { name: 'Try a virtual card' }).click();
  await expect(page.getByRole('alert')).toContainText('This token was already used', {
    timeout: 20_000,
  });
  await snap(page, 'token-used');

  // A forged token (last character changed).
  const forged = token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A');
  const second = await context.newPage();
  await second.goto(`${relay.url}#token=${forged}`);
  await second.getByRole('button', { name: 'Try a virtual card' }).click();
  // The relay refuses every bad token with 4001; a page that reads its token says which trouble it is.
  const refused = second.getByRole('alert');
  await expect(refused).toContainText('This link is not valid for this relay', {
    timeout: 20_000,
  });
  await expect(refused).toContainText('relay close 4001');
  await snap(second, 'token-refused');
});

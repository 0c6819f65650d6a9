// /api/v1 self-service: the reset flow for applications that build their own pages — the same rules as Latchkey's own.
import { Type } from 'typebox';
import { formLimit } from '../../guards.ts';
import type { Services } from '../../services.ts';
import { LinkUnusable } from '../recovery/recovery.service.ts';
import { apiActor, type Api } from './route-parts.ts';
import { ApiProblem } from './problems.ts';
import { Email, NoQuery, Password } from './schemas.ts';
import { ProblemRef, UserRef } from './route-parts.ts';
import { userJson } from './schemas.ts';

/** The page's own words: the same answer for every address. */
export const REQUEST_ANSWER = 'If an account exists for this address, password reset instructions have been sent to it.';

const Token = Type.String({ minLength: 1, maxLength: 200, description: 'The token at the end of the emailed link' });
const LIMITED = { 429: ProblemRef } as const;

export function resetRoutes(v1: Api, services: Services): void {
  const { recovery, policy } = services;

  v1.post(
    '/reset-requests',
    {
      onRequest: formLimit(services, 'reset-request'),
      schema: {
        tags: ['Self-service'],
        summary: 'Request a password reset',
        description:
          'Exactly what the "Reset Password" page does: one answer for every address, known or not, in the same time; ' +
          'an active account gets a link by mail within its hourly allowance. Limited per address like the page.',
        querystring: NoQuery,
        body: Type.Object({ email: Type.String({ minLength: 1, maxLength: 320 }) }, { additionalProperties: false }),
        response: { 202: Type.Object({ message: Type.String() }, { additionalProperties: false }), 400: ProblemRef, ...LIMITED },
      },
    },
    async (request, reply) => {
      await recovery.requestReset(request.body.email, apiActor(request));
      return reply.code(202).send({ message: REQUEST_ANSWER });
    },
  );

  v1.post(
    '/reset-links/state',
    {
      onRequest: formLimit(services, 'reset-link'),
      schema: {
        tags: ['Self-service'],
        summary: "A reset link's state",
        description: 'Whether the link can be used, or why not. Looking does not use the link up. The token goes in the body, never in a URL.',
        querystring: NoQuery,
        body: Type.Object({ token: Token }, { additionalProperties: false }),
        response: {
          200: Type.Object(
            {
              state: Type.Union(['usable', 'used', 'expired', 'revoked', 'invalid'].map((s) => Type.Literal(s))),
              expires_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
            },
            { additionalProperties: false },
          ),
          400: ProblemRef,
          ...LIMITED,
        },
      },
    },
    async (request) => {
      const inspection = await recovery.inspect(request.body.token);
      await recovery.recordOpened(inspection, apiActor(request));
      return { state: inspection.state, expires_at: inspection.state === 'usable' ? new Date(inspection.link.expires_at).toISOString() : null };
    },
  );

  v1.post(
    '/reset-links/complete',
    {
      onRequest: formLimit(services, 'reset-link'),
      schema: {
        tags: ['Self-service'],
        summary: 'Set the new password with a reset link',
        description:
          'The "New Password" form: the password must pass the policy and match its confirmation; the link works once. ' +
          'Every session of the user ends (in Latchkey and in applications) and the user is told by mail. ' +
          'No session is started: sign the person in your way, or send them to log in.',
        querystring: NoQuery,
        body: Type.Object({ token: Token, password: Password, password_confirmation: Password }, { additionalProperties: false }),
        response: { 200: Type.Object({ user: UserRef }, { additionalProperties: false }), 400: ProblemRef, 410: ProblemRef, 422: ProblemRef, ...LIMITED },
      },
    },
    async (request) => {
      try {
        const { user } = await recovery.redeem(request.body.token, request.body.password, request.body.password_confirmation, apiActor(request), { signIn: false });
        // A used link proves the mailbox: redeem cleared any "Undeliverable" mark.
        return { user: userJson(user, false) };
      } catch (error) {
        if (error instanceof LinkUnusable) {
          throw new ApiProblem('link-unusable', error.state === 'invalid' ? 'This reset link is not valid.' : `This reset link was ${error.state === 'used' ? 'already used' : error.state}. Request a new one.`, { state: error.state });
        }
        throw error;
      }
    },
  );

  v1.post(
    '/password-check',
    {
      onRequest: formLimit(services, 'password-check'),
      schema: {
        tags: ['Self-service'],
        summary: 'Check a password against the policy',
        description: 'For live feedback while a person types: which rules the password breaks. Give the email and name when known (the password may not contain them). Nothing is stored or logged.',
        querystring: NoQuery,
        body: Type.Object({ password: Password, email: Type.Optional(Email), name: Type.Optional(Type.String({ maxLength: 100 })) }, { additionalProperties: false }),
        response: {
          200: Type.Object({ acceptable: Type.Boolean(), broken: Type.Array(Type.String()), rules: Type.Array(Type.String()) }, { additionalProperties: false }),
          400: ProblemRef,
          ...LIMITED,
        },
      },
    },
    async (request) => {
      const broken = policy.check(request.body.password, { email: request.body.email ?? '', name: request.body.name ?? '' });
      return { acceptable: broken.length === 0, broken, rules: policy.rules() };
    },
  );
}

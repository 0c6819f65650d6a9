// Types for the one mailauth function the tests use to verify DKIM signatures.
declare module 'mailauth/lib/dkim/verify' {
  export interface DkimResult {
    signingDomain?: string;
    status?: { result?: string; comment?: string };
  }
  export function dkimVerify(
    message: Buffer,
    options: { resolver: (name: string, type: string) => Promise<string[][]> },
  ): Promise<{ results: DkimResult[] }>;
}

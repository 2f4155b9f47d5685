// A ballot's rules and outcome in words, in the reader's language (the server's own `rule` and
// `text` are English only): the majority, the quorum as a number of people, who sees what and
// when; the result with its counts.
import type { BallotResult, BallotRules, BallotSummary, Choice, MemberView, Outcome } from '../../api/types'
import { lang, messages, num } from '../../i18n'
import { typo } from '../amendments/text'

const t = messages({
  en: {
    rule_simple: 'Adopted if more vote yes than no; a tie rejects it. Abstentions do not count in the majority.',
    rule_absolute: 'Adopted if more than half of the {n} eligible voters vote yes: at least {k} yes.',
    rule_two_thirds: 'Adopted if at least two thirds of the votes cast (yes and no) are yes. Abstentions do not count in the majority.',
    rule_quorum: 'Quorum: at least {q} of the {n} eligible voters ({percent}) must take part, abstentions included, or the ballot is void.',
    rule_no_quorum: 'No quorum is required.',
    rule_secret: 'Secret ballot: nobody can see who voted what.',
    rule_roll_call: 'Roll call: each person’s vote is published when the ballot closes.',
    results_hidden: 'Counts are shown when the ballot closes.',
    results_live: 'Counts are shown live while the ballot is open.',
    yes_one: '{n} yes',
    yes_other: '{n} yes',
    no_one: '{n} no',
    no_other: '{n} no',
    abstain_one: '{n} abstention',
    abstain_other: '{n} abstentions',
    outcome_adopted: 'Adopted: {counts}.',
    outcome_rejected: 'Rejected: {counts}.',
    outcome_void: 'Void: the quorum was not reached ({voted} took part, {needed} needed).',
    participation: 'Turnout: {voted} of {eligible} eligible voters.',
    result_adopted: 'Adopted',
    result_rejected: 'Rejected',
    result_void: 'Void',
    choice_yes: 'Yes',
    choice_no: 'No',
    choice_abstain: 'Abstain',
    question_amendment: 'Adopt amendment A{n}?',
    question_final: 'Adopt the Manifesto as a whole?',
  },
  fr: typo({
    rule_simple: 'Adopté si les voix « pour » dépassent les voix « contre » ; l’égalité vaut rejet. Les abstentions ne comptent pas dans la majorité.',
    rule_absolute: 'Adopté si plus de la moitié des {n} membres appelés à voter votent pour : au moins {k} voix pour.',
    rule_two_thirds: 'Adopté si au moins les deux tiers des suffrages exprimés (pour et contre) sont des voix « pour ». Les abstentions ne comptent pas dans la majorité.',
    rule_quorum: 'Quorum : au moins {q} des {n} membres appelés à voter ({percent}) doivent participer, abstentions comprises, sinon le scrutin est nul.',
    rule_no_quorum: 'Aucun quorum n’est requis.',
    rule_secret: 'Vote à bulletin secret : personne ne peut savoir qui a voté quoi.',
    rule_roll_call: 'Vote par appel nominal : le vote de chacun·e est publié à la clôture.',
    results_hidden: 'Les résultats sont affichés à la clôture du scrutin.',
    results_live: 'Les résultats s’affichent en direct pendant le scrutin.',
    yes_one: '{n} pour',
    yes_other: '{n} pour',
    no_one: '{n} contre',
    no_other: '{n} contre',
    abstain_one: '{n} abstention',
    abstain_other: '{n} abstentions',
    outcome_adopted: 'Adopté : {counts}.',
    outcome_rejected: 'Rejeté : {counts}.',
    outcome_void: 'Nul : le quorum n’est pas atteint ({voted} participant·es, {needed} requis).',
    participation: 'Participation : {voted} sur {eligible} membres appelés à voter.',
    result_adopted: 'Adopté',
    result_rejected: 'Rejeté',
    result_void: 'Nul',
    choice_yes: 'Pour',
    choice_no: 'Contre',
    choice_abstain: 'Abstention',
    question_amendment: 'Adopter l’amendement A{n} ?',
    question_final: 'Adopter le Manifeste dans son ensemble ?',
  }),
})

/** People who must take part for a quorum `share` of `n` (float error ignored, as the server). */
export function quorumNeeded(share: number, n: number): number {
  return Math.max(0, Math.ceil(share * n - 1e-9))
}

/** Yes votes an absolute majority of `n` eligible voters needs. */
export function absoluteNeeded(n: number): number {
  return Math.floor(n / 2) + 1
}

function percent(share: number): string {
  return new Intl.NumberFormat(lang.value === 'fr' ? 'fr-FR' : 'en-GB', { style: 'percent', maximumFractionDigits: 1 }).format(share)
}

function count(kind: 'yes' | 'no' | 'abstain', n: number): string {
  const one = lang.value === 'fr' ? n < 2 : n === 1
  return t(`${kind}_${one ? 'one' : 'other'}`, { n: num(n) })
}

/** "2 yes, 1 no, 0 abstentions". */
export function countsText(tally: { yes: number; no: number; abstain: number }): string {
  return [count('yes', tally.yes), count('no', tally.no), count('abstain', tally.abstain)].join(', ')
}

/** The rules as sentences: majority, quorum, secrecy, when counts show. */
export function ruleSentences(rules: BallotRules, nEligible: number): string[] {
  const sentences: string[] = []
  if (rules.majority === 'simple') sentences.push(t('rule_simple'))
  else if (rules.majority === 'absolute') sentences.push(t('rule_absolute', { n: num(nEligible), k: num(absoluteNeeded(nEligible)) }))
  else sentences.push(t('rule_two_thirds'))
  if (rules.quorum != null && rules.quorum > 0) {
    sentences.push(t('rule_quorum', { q: num(quorumNeeded(rules.quorum, nEligible)), n: num(nEligible), percent: percent(rules.quorum) }))
  } else sentences.push(t('rule_no_quorum'))
  sentences.push(t(rules.visibility === 'roll_call' ? 'rule_roll_call' : 'rule_secret'))
  sentences.push(t(rules.results === 'live' ? 'results_live' : 'results_hidden'))
  return sentences
}

/** "Adopted: 2 yes, 0 no, 1 abstention." */
export function outcomeSentence(outcome: Outcome): string {
  if (outcome.result === 'void') {
    return t('outcome_void', { voted: num(outcome.n_voted), needed: num(outcome.quorum_required ?? 0) })
  }
  return t(outcome.result === 'adopted' ? 'outcome_adopted' : 'outcome_rejected', { counts: countsText(outcome) })
}

export function participationText(voted: number, eligible: number): string {
  return t('participation', { voted: num(voted), eligible: num(eligible) })
}

export function resultName(result: BallotResult): string {
  return t(`result_${result}`)
}

export function choiceName(choice: Choice): string {
  return t(`choice_${choice}`)
}

/** Who a ballot opened now would call to vote: active delegates, and the secretariat when the
 * document lets it vote (the server's rule). */
export function eligibleCount(members: readonly Pick<MemberView, 'role' | 'active'>[], secretariatVotes: boolean): number {
  return members.filter((m) => m.active && (m.role === 'delegate' || (secretariatVotes && m.role === 'secretariat'))).length
}

/**
 * The question of a ballot: the secretariat's own words, or, when it left the server's usual
 * (English) question, that question in the reader's language.
 */
export function ballotQuestion(ballot: Pick<BallotSummary, 'question' | 'subject'>): string {
  const subject = ballot.subject
  if (subject.kind === 'final_text') {
    return ballot.question === 'Adopt the Manifesto as a whole?' ? t('question_final') : ballot.question
  }
  return ballot.question === `Adopt amendment ${subject.amendment}?` ? t('question_amendment', { n: subject.amendment }) : ballot.question
}

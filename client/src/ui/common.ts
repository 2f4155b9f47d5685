// Strings and helpers every view shares: the app frame, error messages by server code,
// phases and roles.
import { ApiFailure } from '../api/client'
import type { Phase, Role } from '../api/types'
import { messages } from '../i18n'

export const t = messages({
  en: {
    app_name: 'Manifesto',
    skip_to_content: 'Skip to content',
    nav_documents: 'Documents',
    nav_queue: 'My queue',
    nav_members: 'Members',
    nav_audit: 'Audit log',
    nav_main: 'Main',
    language: 'Language',
    log_out: 'Log out',
    logged_in_as: 'Logged in as {name} ({role})',
    loading: 'Loading…',
    retry: 'Try again',
    cancel: 'Cancel',
    save: 'Save',
    close: 'Close',
    not_found_title: 'Page not found',
    not_found_body: 'There is nothing at this address.',
    back_to_documents: 'Back to the documents',
    wait_message: 'The server asks you to wait {seconds} s before trying again.',
    session_ended_title: 'Your session has ended',
    session_ended_body: 'Log in again to go on. Your unsaved work is kept in this page.',
    role_secretariat: 'secretariat',
    role_delegate: 'delegate',
    role_observer: 'observer',
    phase_drafting: 'Drafting',
    phase_amendments: 'Amendments',
    phase_voting: 'Voting',
    phase_final_vote: 'Final vote',
    phase_adopted: 'Adopted',
    phase_archived: 'Archived',
    error_network: 'The server cannot be reached. Check your connection and try again.',
    error_unauthenticated: 'Your session has ended: log in again.',
    error_forbidden: 'You are not allowed to do this.',
    error_rate_limited: 'Too many attempts: wait a moment and try again.',
    error_busy: 'The server is busy: try again in a moment.',
    error_conflict: 'This could not be done as things stand: {message}',
    error_invalid: 'Please check what you entered: {message}',
    error_not_found: 'This no longer exists.',
    error_other: 'Something went wrong ({code}): {message}',
    error_invalid_credentials: 'Wrong email or password.',
    error_password_too_short: 'The password is too short (at least 10 characters).',
    error_password_too_common: 'This password is too common: choose another.',
    error_password_too_long: 'The password is too long.',
    error_phase_closed: 'This is closed in the current phase.',
    error_deadline_passed: 'The deadline has passed.',
  },
  fr: {
    app_name: 'Manifesto',
    skip_to_content: 'Aller au contenu',
    nav_documents: 'Documents',
    nav_queue: 'Mes tâches',
    nav_members: 'Membres',
    nav_audit: 'Journal d’audit',
    nav_main: 'Principal',
    language: 'Langue',
    log_out: 'Se déconnecter',
    logged_in_as: 'Connecté·e : {name} ({role})',
    loading: 'Chargement…',
    retry: 'Réessayer',
    cancel: 'Annuler',
    save: 'Enregistrer',
    close: 'Fermer',
    not_found_title: 'Page introuvable',
    not_found_body: 'Il n’y a rien à cette adresse.',
    back_to_documents: 'Retour aux documents',
    wait_message: 'Le serveur demande d’attendre {seconds} s avant de réessayer.',
    session_ended_title: 'Votre session a pris fin',
    session_ended_body: 'Reconnectez-vous pour continuer. Votre travail non enregistré est conservé dans cette page.',
    role_secretariat: 'secrétariat',
    role_delegate: 'délégué·e',
    role_observer: 'observateur·rice',
    phase_drafting: 'Rédaction',
    phase_amendments: 'Amendements',
    phase_voting: 'Vote',
    phase_final_vote: 'Vote final',
    phase_adopted: 'Adopté',
    phase_archived: 'Archivé',
    error_network: 'Le serveur est injoignable. Vérifiez votre connexion et réessayez.',
    error_unauthenticated: 'Votre session a pris fin : reconnectez-vous.',
    error_forbidden: 'Vous n’êtes pas autorisé·e à faire ceci.',
    error_rate_limited: 'Trop de tentatives : attendez un instant et réessayez.',
    error_busy: 'Le serveur est occupé : réessayez dans un instant.',
    error_conflict: 'Impossible en l’état : {message}',
    error_invalid: 'Vérifiez votre saisie : {message}',
    error_not_found: 'Ceci n’existe plus.',
    error_other: 'Une erreur s’est produite ({code}) : {message}',
    error_invalid_credentials: 'Adresse ou mot de passe incorrect.',
    error_password_too_short: 'Le mot de passe est trop court (10 caractères au moins).',
    error_password_too_common: 'Ce mot de passe est trop courant : choisissez-en un autre.',
    error_password_too_long: 'Le mot de passe est trop long.',
    error_phase_closed: 'Ceci est fermé dans la phase en cours.',
    error_deadline_passed: 'L’échéance est passée.',
  },
})

export function phaseName(phase: Phase): string {
  return t(`phase_${phase}`)
}

export function roleName(role: Role): string {
  return t(`role_${role}`)
}

/** A sentence for any failure, in the current language. */
export function errorText(error: unknown): string {
  if (!(error instanceof ApiFailure)) return t('error_other', { code: 'client', message: String(error) })
  const message = error.message
  switch (error.code) {
    case 'network':
      return t('error_network')
    case 'unauthenticated':
      return t('error_unauthenticated')
    case 'forbidden':
      return t('error_forbidden')
    case 'rate_limited':
      return t('error_rate_limited')
    case 'busy':
      return t('error_busy')
    case 'invalid_credentials':
      return t('error_invalid_credentials')
    case 'password_too_short':
      return t('error_password_too_short')
    case 'password_too_common':
      return t('error_password_too_common')
    case 'password_too_long':
      return t('error_password_too_long')
    case 'phase_closed':
      return t('error_phase_closed')
    case 'deadline_passed':
      return t('error_deadline_passed')
  }
  if (error.status === 404) return t('error_not_found')
  if (error.status === 409 || error.status === 410) return t('error_conflict', { message })
  if (error.status === 400 || error.status === 422) return t('error_invalid', { message })
  return t('error_other', { code: error.code, message })
}

/** A `datetime-local` input's value → RFC 3339 (in the browser's time zone); null if empty. */
export function localToIso(local: string): string | null {
  if (!local) return null
  const date = new Date(local)
  return Number.isNaN(date.getTime()) ? null : date.toISOString()
}

//! Collects every error of one derive, so a user sees all mistakes at once.

use std::fmt::Display;

use quote::ToTokens;

#[derive(Default)]
pub struct Ctxt {
    errors: Option<syn::Error>,
}

impl Ctxt {
    pub fn error_spanned_by(&mut self, tokens: impl ToTokens, msg: impl Display) {
        self.push(syn::Error::new_spanned(tokens, msg));
    }

    pub fn push(&mut self, err: syn::Error) {
        match &mut self.errors {
            Some(e) => e.combine(err),
            None => self.errors = Some(err),
        }
    }

    pub fn check(self) -> Result<(), syn::Error> {
        match self.errors {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

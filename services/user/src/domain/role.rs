use std::collections::BTreeSet;

use bazaar_runtime::auth;

use super::Invalid;

/// What an account may do. One type between the three spellings of a role:
/// the proto enum on the wire (converted in `grpc`), the runtime's role in
/// tokens, and the text in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Customer,
    Admin,
}

impl Role {
    /// The stored spelling; the same as the runtime's token claims.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Customer => "customer",
            Self::Admin => "admin",
        }
    }

    pub fn from_stored(value: &str) -> Result<Self, Invalid> {
        match value {
            "customer" => Ok(Self::Customer),
            "admin" => Ok(Self::Admin),
            _ => Err(Invalid("is not a known role")),
        }
    }
}

impl From<Role> for auth::Role {
    fn from(role: Role) -> Self {
        match role {
            Role::Customer => Self::Customer,
            Role::Admin => Self::Admin,
        }
    }
}

impl From<auth::Role> for Role {
    fn from(role: auth::Role) -> Self {
        match role {
            auth::Role::Customer => Self::Customer,
            auth::Role::Admin => Self::Admin,
        }
    }
}

/// The roles of an account: at least one, each once, in a fixed order (so
/// equal sets store and print the same).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roles(BTreeSet<Role>);

impl Roles {
    pub fn new(roles: impl IntoIterator<Item = Role>) -> Result<Self, Invalid> {
        let roles: BTreeSet<Role> = roles.into_iter().collect();
        if roles.is_empty() {
            return Err(Invalid("must name at least one role"));
        }
        Ok(Self(roles))
    }

    pub fn only(role: Role) -> Self {
        Self(BTreeSet::from([role]))
    }

    pub fn contains(&self, role: Role) -> bool {
        self.0.contains(&role)
    }

    pub fn iter(&self) -> impl Iterator<Item = Role> + '_ {
        self.0.iter().copied()
    }

    /// Comma-separated, e.g. `customer,admin`.
    pub fn to_stored(&self) -> String {
        self.iter().map(Role::as_str).collect::<Vec<_>>().join(",")
    }

    pub fn from_stored(value: &str) -> Result<Self, Invalid> {
        let roles = value
            .split(',')
            .filter(|r| !r.is_empty())
            .map(Role::from_stored)
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(roles)
    }

    /// The roles a token for this account carries.
    pub fn to_claims(&self) -> Vec<auth::Role> {
        self.iter().map(auth::Role::from).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_every_spelling() {
        for role in [Role::Customer, Role::Admin] {
            assert_eq!(Role::from_stored(role.as_str()), Ok(role));
            assert_eq!(Role::from(auth::Role::from(role)), role);
        }
    }

    #[test]
    fn a_set_is_non_empty_deduplicated_and_ordered() {
        assert!(Roles::new([]).is_err());
        let roles = Roles::new([Role::Admin, Role::Customer, Role::Admin]).unwrap();
        assert_eq!(roles.to_stored(), "customer,admin");
        assert_eq!(Roles::from_stored("customer,admin"), Ok(roles));
        assert!(Roles::from_stored("").is_err());
        assert!(Roles::from_stored("root").is_err());
    }
}

//! Who may see what on the status page, from the launch's LIS roles.
//!
//! LMSs write a role in several forms: the LTI 1.3 context role
//! (`…/lis/v2/membership#Instructor`), a sub-role under its principal
//! (`…/membership/Instructor#TeachingAssistant`), the institution role
//! (`…/lis/v2/institution/person#Administrator`), the LTI 1.1 URN
//! (`urn:lti:role:ims/lis/Instructor/TeachingAssistant`) and the bare short
//! name. Each is read as its principal role; a sub-role counts as its
//! principal (a TeachingAssistant under Instructor is staff, an Instructor
//! under Learner is a learner).

/// What the viewer may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Every grade of the activity, and the resend action.
    Instructor,
    /// Their own grade only.
    Learner,
    /// Nothing (403).
    Neither,
}

/// Principal roles that see every grade: the course's teaching and
/// administrative staff.
const STAFF: [&str; 4] = [
    "Instructor",
    "TeachingAssistant",
    "ContentDeveloper",
    "Administrator",
];

/// Principal roles of someone who is graded (`Student` is the institution
/// form).
const GRADED: [&str; 2] = ["Learner", "Student"];

impl Audience {
    /// The audience of a user with `roles`: staff wins over learner (a TA
    /// who is also enrolled sees the course).
    pub fn of(roles: &[String]) -> Self {
        let principals: Vec<&str> = roles.iter().filter_map(|r| principal(r)).collect();
        if principals.iter().any(|p| STAFF.contains(p)) {
            Audience::Instructor
        } else if principals.iter().any(|p| GRADED.contains(p)) {
            Audience::Learner
        } else {
            Audience::Neither
        }
    }
}

/// The principal role a role string names, or `None` for a form this is
/// not (a system role, a custom vocabulary).
fn principal(role: &str) -> Option<&str> {
    const V2: &str = "http://purl.imsglobal.org/vocab/lis/v2/";
    let role = role.trim();
    if let Some(rest) = role.strip_prefix(V2) {
        // membership#X, membership/X#Sub, institution/person#X
        let rest = rest
            .strip_prefix("membership")
            .or_else(|| rest.strip_prefix("institution/person"))?;
        return match rest.split_once('#')? {
            ("", name) => Some(name),
            (under, _sub) => under.strip_prefix('/'),
        };
    }
    for urn in ["urn:lti:role:ims/lis/", "urn:lti:instrole:ims/lis/"] {
        if let Some(rest) = role.strip_prefix(urn) {
            return rest.split('/').next();
        }
    }
    (!role.contains([':', '/', '#'])).then_some(role)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn audience(roles: &[&str]) -> Audience {
        Audience::of(&roles.iter().map(|r| r.to_string()).collect::<Vec<_>>())
    }

    const M: &str = "http://purl.imsglobal.org/vocab/lis/v2/membership";
    const I: &str = "http://purl.imsglobal.org/vocab/lis/v2/institution/person";

    #[test]
    fn staff_in_every_form_see_the_course() {
        for role in [
            format!("{M}#Instructor"),
            format!("{M}/Instructor#TeachingAssistant"),
            format!("{M}#ContentDeveloper"),
            format!("{M}/ContentDeveloper#ContentExpert"),
            format!("{M}#Administrator"),
            format!("{M}/Administrator#Support"),
            format!("{I}#Instructor"),
            format!("{I}#Administrator"),
            "urn:lti:role:ims/lis/Instructor".into(),
            "urn:lti:role:ims/lis/TeachingAssistant".into(),
            "urn:lti:instrole:ims/lis/Administrator".into(),
            "Instructor".into(),
            "TeachingAssistant".into(),
        ] {
            assert_eq!(audience(&[&role]), Audience::Instructor, "{role}");
        }
    }

    #[test]
    fn learners_see_their_own_grade_and_others_nothing() {
        for role in [
            format!("{M}#Learner"),
            format!("{M}/Learner#Instructor"),
            format!("{M}/Learner#NonCreditLearner"),
            format!("{I}#Student"),
            "urn:lti:role:ims/lis/Learner".into(),
            "Learner".into(),
        ] {
            assert_eq!(audience(&[&role]), Audience::Learner, "{role}");
        }
        for roles in [
            vec![],
            vec![format!("{M}#Mentor")],
            vec![format!("{I}#Guest")],
            vec!["http://purl.imsglobal.org/vocab/lis/v2/system/person#Administrator".into()],
            vec!["https://example.edu/roles#Instructor".into()],
            vec![format!("{M}Instructor")],
        ] {
            let roles: Vec<&str> = roles.iter().map(String::as_str).collect();
            assert_eq!(audience(&roles), Audience::Neither, "{roles:?}");
        }
        let both = [format!("{M}#Learner"), format!("{M}/Instructor#Grader")];
        assert_eq!(audience(&[&both[0], &both[1]]), Audience::Instructor);
    }
}

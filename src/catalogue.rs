//! Every topic crate's labs, in course order.

use labkit::catalogue::Entry;
use labkit::Catalogue;

/// Loads the catalogue from the manifests embedded in each topic crate.
pub fn load() -> anyhow::Result<Catalogue> {
    let topics = vec![
        labns::topic(),
        labcgroup::topic(),
        laboverlay::topic(),
        labnet::topic(),
        labimage::topic(),
        // The engine's labs first: docker's commands, then what the runtime's defaults stop.
        labcontainer::topic(),
        labruntime::topic(),
    ];
    Ok(Catalogue::load(topics)?)
}

/// Finds a lab or says which one was probably meant.
pub fn find<'a>(catalogue: &'a Catalogue, id: &str) -> anyhow::Result<&'a Entry> {
    if let Some(entry) = catalogue.get(id) {
        return Ok(entry);
    }
    let known = catalogue.ids().join(", ");
    match catalogue.suggest(id) {
        Some(close) => anyhow::bail!("unknown lab {id:?}: did you mean {close}? (labs: {known})"),
        None => anyhow::bail!("unknown lab {id:?} (labs: {known})"),
    }
}

//! histograms.hlog: every variant × phase × trial's latency histogram, and each request name's,
//! in HdrHistogram's interval log format — lossless percentiles, mergeable, readable by
//! HdrHistogram's own tools.

use super::hlog::{write_hlog, HistogramTag, TaggedHistogram};
use super::{Export, RunData};

pub struct HistogramsHlog;

impl Export for HistogramsHlog {
    fn file_name(&self) -> &'static str {
        "histograms.hlog"
    }

    fn render(&self, data: &RunData) -> anyhow::Result<Vec<u8>> {
        let mut histograms = Vec::new();
        for variant in data.variants {
            for phase in &variant.phases {
                let h = &phase.histograms;
                let tag = |request: Option<String>| HistogramTag {
                    variant: variant.name.clone(),
                    phase: phase.phase.clone(),
                    trial: phase.trial,
                    request,
                };
                if let Some(total) = &h.total {
                    histograms.push(TaggedHistogram {
                        tag: tag(None),
                        start: h.start,
                        length: h.length,
                        histogram: total.clone(),
                    });
                }
                for (name, histogram) in &h.by_request {
                    histograms.push(TaggedHistogram {
                        tag: tag(Some(name.clone())),
                        start: h.start,
                        length: h.length,
                        histogram: histogram.clone(),
                    });
                }
            }
        }
        write_hlog(data.started, &histograms).map_err(anyhow::Error::msg)
    }
}

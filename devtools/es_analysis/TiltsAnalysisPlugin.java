package org.tilts.analysis;

import java.util.HashMap;
import java.util.Map;
import java.util.function.Supplier;

import org.apache.lucene.analysis.Analyzer;
import org.apache.lucene.analysis.LowerCaseFilter;
import org.apache.lucene.analysis.TokenStream;
import org.apache.lucene.analysis.de.GermanAnalyzer;
import org.apache.lucene.analysis.en.EnglishAnalyzer;
import org.apache.lucene.analysis.es.SpanishAnalyzer;
import org.apache.lucene.analysis.et.EstonianAnalyzer;
import org.apache.lucene.analysis.fr.FrenchAnalyzer;
import org.apache.lucene.analysis.it.ItalianAnalyzer;
import org.apache.lucene.analysis.lt.LithuanianAnalyzer;
import org.apache.lucene.analysis.lv.LatvianAnalyzer;
import org.apache.lucene.analysis.miscellaneous.ASCIIFoldingFilter;
import org.apache.lucene.analysis.ngram.EdgeNGramTokenFilter;
import org.apache.lucene.analysis.ru.RussianAnalyzer;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.index.analysis.AbstractIndexAnalyzerProvider;
import org.elasticsearch.index.analysis.AbstractTokenFilterFactory;
import org.elasticsearch.index.analysis.AnalyzerProvider;
import org.elasticsearch.index.analysis.TokenFilterFactory;
import org.elasticsearch.indices.analysis.AnalysisModule.AnalysisProvider;
import org.elasticsearch.plugins.AnalysisPlugin;
import org.elasticsearch.plugins.Plugin;

/**
 * The analysis components tilts' index template uses, under the names the
 * Elasticsearch distribution gives them in its analysis-common module.
 *
 * The Maven Central test distribution of Elasticsearch ships without that
 * module; `tilts services up` builds this plugin from Lucene's own analyzers
 * (already in the server's lib/) so the same template works on it and on the
 * official image, where this plugin is not installed.
 */
public class TiltsAnalysisPlugin extends Plugin implements AnalysisPlugin {

    static final class LanguageAnalyzer<T extends Analyzer> extends AbstractIndexAnalyzerProvider<T> {
        private final T analyzer;

        LanguageAnalyzer(String name, Settings settings, Supplier<T> make) {
            super(name, settings);
            this.analyzer = make.get();
        }

        @Override
        public T get() {
            return analyzer;
        }
    }

    private static <T extends Analyzer> AnalysisProvider<AnalyzerProvider<? extends Analyzer>> language(Supplier<T> make) {
        return (indexSettings, env, name, settings) -> new LanguageAnalyzer<>(name, settings, make);
    }

    @Override
    public Map<String, AnalysisProvider<AnalyzerProvider<? extends Analyzer>>> getAnalyzers() {
        Map<String, AnalysisProvider<AnalyzerProvider<? extends Analyzer>>> analyzers = new HashMap<>();
        analyzers.put("latvian", language(LatvianAnalyzer::new));
        analyzers.put("english", language(EnglishAnalyzer::new));
        analyzers.put("russian", language(RussianAnalyzer::new));
        analyzers.put("german", language(GermanAnalyzer::new));
        analyzers.put("french", language(FrenchAnalyzer::new));
        analyzers.put("spanish", language(SpanishAnalyzer::new));
        analyzers.put("italian", language(ItalianAnalyzer::new));
        analyzers.put("lithuanian", language(LithuanianAnalyzer::new));
        analyzers.put("estonian", language(EstonianAnalyzer::new));
        return analyzers;
    }

    @Override
    public Map<String, AnalysisProvider<TokenFilterFactory>> getTokenFilters() {
        Map<String, AnalysisProvider<TokenFilterFactory>> filters = new HashMap<>();
        filters.put("lowercase", (indexSettings, env, name, settings) -> new AbstractTokenFilterFactory(name, settings) {
            @Override
            public TokenStream create(TokenStream in) {
                return new LowerCaseFilter(in);
            }
        });
        filters.put("asciifolding", (indexSettings, env, name, settings) -> {
            boolean keep = settings.getAsBoolean("preserve_original", false);
            return new AbstractTokenFilterFactory(name, settings) {
                @Override
                public TokenStream create(TokenStream in) {
                    return new ASCIIFoldingFilter(in, keep);
                }
            };
        });
        filters.put("edge_ngram", (indexSettings, env, name, settings) -> {
            int min = settings.getAsInt("min_gram", 1);
            int max = settings.getAsInt("max_gram", 2);
            boolean keep = settings.getAsBoolean("preserve_original", false);
            return new AbstractTokenFilterFactory(name, settings) {
                @Override
                public TokenStream create(TokenStream in) {
                    return new EdgeNGramTokenFilter(in, min, max, keep);
                }
            };
        });
        return filters;
    }
}

package tokenizer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quant-llm/quant/internal/testdata"
)

var chatConversation = []Message{
	{Role: "system", Content: "You are a helpful assistant."},
	{Role: "user", Content: "Hello!"},
	{Role: "assistant", Content: "Hi there! How can I help?"},
	{Role: "user", Content: "What is 2+2?"},
}

// chatMLConversation is chatConversation in ChatML up to the assistant's
// header, as the SmolLM2 and Qwen templates render it.
const chatMLConversation = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHello!<|im_end|>\n" +
	"<|im_start|>assistant\nHi there! How can I help?<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n"

func readTemplate(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "chat", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRenderChatTemplate checks published templates against the text
// Hugging Face transformers renders for them (written out by hand from each
// model's documented format).
func TestRenderChatTemplate(t *testing.T) {
	// Llama 3.x templates print today's date via strftime_now, as in transformers.
	today := time.Now().Format("02 Jan 2006")
	noSystem := chatConversation[1:]
	// Qwen3.5 keeps an assistant turn's reasoning only after the last user
	// message; before it, the text up to </think> is dropped. A reply
	// generated after an open "<think>\n" prompt has no opening tag.
	reasoned := "<think>\nThe user greets me.\n</think>\n\nHi there! How can I help?"
	withReasoning := []Message{chatConversation[0], chatConversation[1], {Role: "assistant", Content: reasoned}, chatConversation[3]}
	lastReasoned := []Message{chatConversation[0], chatConversation[1], {Role: "assistant", Content: reasoned}}
	lastGenerated := []Message{chatConversation[0], chatConversation[1], {Role: "assistant", Content: strings.TrimPrefix(reasoned, "<think>\n")}}
	const qwenGreeting = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n"
	tests := []struct {
		name     string
		template string
		msgs     []Message
		addGen   bool
		opts     []ChatOption
		bos, eos string
		want     string
	}{
		{
			name: "smollm2", template: "smollm2.jinja", msgs: chatConversation, addGen: true, want: chatMLConversation,
		},
		{
			name: "smollm2 default system", template: "smollm2.jinja", msgs: noSystem[:1], addGen: false,
			want: "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHello!<|im_end|>\n",
		},
		{
			name: "llama3.2", template: "llama3.2.jinja", msgs: chatConversation, addGen: true, bos: "<|begin_of_text|>", eos: "<|eot_id|>",
			want: "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: " + today +
				"\n\nYou are a helpful assistant.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHello!<|eot_id|>" +
				"<|start_header_id|>assistant<|end_header_id|>\n\nHi there! How can I help?<|eot_id|>" +
				"<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
		},
		{
			name: "llama3.2 no system", template: "llama3.2.jinja", msgs: noSystem[:1], addGen: false, bos: "<|begin_of_text|>",
			want: "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: " + today +
				"\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHello!<|eot_id|>",
		},
		{
			name: "qwen2.5", template: "qwen2.5.jinja", msgs: chatConversation, addGen: true, want: chatMLConversation,
		},
		{
			name: "qwen2.5 default system", template: "qwen2.5.jinja", msgs: noSystem[:1], addGen: true,
			want: "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n" +
				"<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n",
		},
		{
			name: "qwen3", template: "qwen3.jinja", msgs: chatConversation, addGen: true, want: chatMLConversation,
		},
		{
			// The last assistant turn (after the last user message) keeps an
			// explicit, here empty, thinking block.
			name: "qwen3 final assistant", template: "qwen3.jinja", msgs: chatConversation[:3], addGen: false,
			want: "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHello!<|im_end|>\n" +
				"<|im_start|>assistant\n<think>\n\n</think>\n\nHi there! How can I help?<|im_end|>\n",
		},
		// Qwen3.5 opens a thinking block in the generation prompt, or closes an
		// empty one when thinking is off; the large models default to on, the
		// small ones to off.
		{name: "qwen3.5", template: "qwen3.5.jinja", msgs: chatConversation, addGen: true, want: chatMLConversation + "<think>\n"},
		{
			name: "qwen3.5 thinking", template: "qwen3.5.jinja", msgs: chatConversation, addGen: true, opts: []ChatOption{EnableThinking(true)},
			want: chatMLConversation + "<think>\n",
		},
		{
			name: "qwen3.5 no thinking", template: "qwen3.5.jinja", msgs: chatConversation, addGen: true, opts: []ChatOption{EnableThinking(false)},
			want: chatMLConversation + "<think>\n\n</think>\n\n",
		},
		{name: "qwen3.5-small", template: "qwen3.5-small.jinja", msgs: chatConversation, addGen: true, want: chatMLConversation + "<think>\n\n</think>\n\n"},
		{
			name: "qwen3.5-small thinking", template: "qwen3.5-small.jinja", msgs: chatConversation, addGen: true, opts: []ChatOption{EnableThinking(true)},
			want: chatMLConversation + "<think>\n",
		},
		{
			name: "qwen3.5-small no thinking", template: "qwen3.5-small.jinja", msgs: chatConversation, addGen: true, opts: []ChatOption{EnableThinking(false)},
			want: chatMLConversation + "<think>\n\n</think>\n\n",
		},
		{
			name: "qwen3.5 reasoning in history", template: "qwen3.5.jinja", msgs: withReasoning, addGen: true, opts: []ChatOption{EnableThinking(false)},
			want: chatMLConversation + "<think>\n\n</think>\n\n",
		},
		{
			name: "qwen3.5 final assistant", template: "qwen3.5-small.jinja", msgs: chatConversation[:3], addGen: false,
			want: qwenGreeting + "<think>\n\n</think>\n\nHi there! How can I help?<|im_end|>\n",
		},
		{
			name: "qwen3.5 final assistant reasoning", template: "qwen3.5-small.jinja", msgs: lastReasoned, addGen: false,
			want: qwenGreeting + "<think>\nThe user greets me.\n</think>\n\nHi there! How can I help?<|im_end|>\n",
		},
		{
			name: "qwen3.5 final assistant as generated", template: "qwen3.5.jinja", msgs: lastGenerated, addGen: false,
			want: qwenGreeting + "<think>\nThe user greets me.\n</think>\n\nHi there! How can I help?<|im_end|>\n",
		},
		{
			// Every message's text is trimmed.
			name: "qwen3.5 trims", template: "qwen3.5.jinja", msgs: []Message{{Role: "system", Content: "  Be brief.\n"}, {Role: "user", Content: " Hi "}}, addGen: true,
			want: "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n",
		},
		{
			name: "phi3", template: "phi3.jinja", msgs: chatConversation, addGen: true, bos: "<s>", eos: "<|endoftext|>",
			want: "<s><|user|>\nHello!<|end|>\n<|assistant|>\nHi there! How can I help?<|end|>\n<|user|>\nWhat is 2+2?<|end|>\n<|assistant|>\n",
		},
		{
			name: "phi3.5", template: "phi3.5.jinja", msgs: chatConversation, addGen: true, bos: "<s>", eos: "<|endoftext|>",
			want: "<|system|>\nYou are a helpful assistant.<|end|>\n<|user|>\nHello!<|end|>\n<|assistant|>\nHi there! How can I help?<|end|>\n" +
				"<|user|>\nWhat is 2+2?<|end|>\n<|assistant|>\n",
		},
		{
			name: "phi3.5 no generation prompt", template: "phi3.5.jinja", msgs: noSystem[:1], addGen: false, eos: "<|endoftext|>",
			want: "<|user|>\nHello!<|end|>\n<|endoftext|>",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := RenderChatTemplate(readTemplate(t, tc.template), tc.msgs, tc.addGen, tc.bos, tc.eos, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

// TestApplyChatTemplateQwen35 checks that options reach a model's template
// and that a conversation the template refuses (raise_exception) is an
// error, not a reason to fall back to a built-in ChatML.
func TestApplyChatTemplateQwen35(t *testing.T) {
	tok := &Tokenizer{chatTemplate: readTemplate(t, "qwen3.5-small.jinja"), bos: noToken, eos: noToken}
	tests := []struct {
		name    string
		msgs    []Message
		opts    []ChatOption
		want    string
		wantErr string
	}{
		{name: "default", msgs: chatConversation, want: chatMLConversation + "<think>\n\n</think>\n\n"},
		{name: "thinking", msgs: chatConversation, opts: []ChatOption{EnableThinking(true)}, want: chatMLConversation + "<think>\n"},
		{
			name: "no user message", msgs: chatConversation[:1],
			wantErr: "the chat template rejects the conversation: No user query found in messages.",
		},
		{
			name: "system not first", msgs: []Message{chatConversation[1], chatConversation[0]},
			wantErr: "the chat template rejects the conversation: System message must be at the beginning.",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tok.ApplyChatTemplate(tc.msgs, true, tc.opts...)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("got %q, error %v; want error %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

// TestApplyChatTemplateGolden renders tiny-bpe's template (SmolLM2's) and
// compares with llama.cpp's llama_chat_apply_template result and its ids.
func TestApplyChatTemplateGolden(t *testing.T) {
	g := readGolden(t, filepath.Join(testdata.Dir(t), "golden", "tiny-bpe-q4_k_m.json"))
	tok := openTokenizer(t, g.ModelFile)
	if tok.ChatTemplate() != g.ChatTemplate {
		t.Fatalf("tokenizer.chat_template differs from the golden copy")
	}
	c := g.ChatApplyTemplate
	got, err := tok.ApplyChatTemplate(c.Messages, c.AddGenerationPrompt)
	if err != nil {
		t.Fatal(err)
	}
	if got != c.Text {
		t.Fatalf("got %q, want %q", got, c.Text)
	}
	ids, err := tok.Encode(got, true, true)
	if err != nil {
		t.Fatal(err)
	}
	if !equalIDs(ids, c.IDs) {
		t.Errorf("ids %v, want %v", ids, c.IDs)
	}
	// The built-in ChatML formatter llama.cpp used gives the same text.
	if f, ok := detectChatFormat(tok.ChatTemplate()); !ok || f != chatML {
		t.Fatalf("template not recognised as ChatML")
	}
	if b := formatChat(chatML, c.Messages, c.AddGenerationPrompt); b != c.Text {
		t.Errorf("built-in ChatML: %q", b)
	}
}

func equalIDs(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestChatFallback checks template detection and the built-in formats used
// when the Jinja engine cannot render a template.
func TestChatFallback(t *testing.T) {
	msgs := []Message{{Role: "system", Content: "Be brief."}, {Role: "user", Content: " Hi "}, {Role: "assistant", Content: "Hello."}, {Role: "user", Content: "Bye"}}
	tests := []struct {
		name     string
		template string
		format   chatFormat
		want     string
	}{
		{"chatml", "{{ '<|im_start|>' }}{% broken", chatML,
			"<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n Hi <|im_end|>\n<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n"},
		{"llama3", "<|start_header_id|>{{ x <|end_header_id|>", chatLlama3,
			"<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>" +
				"<|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|>" +
				"<|start_header_id|>assistant<|end_header_id|>\n\n"},
		{"llama2-sys", "[INST] <<SYS>> {% if", chatLlama2Sys,
			"[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\n Hi  [/INST]Hello.</s>[INST] Bye [/INST]"},
		{"phi3", "<|assistant|> <|end|> {% if", chatPhi3,
			"<|system|>\nBe brief.<|end|>\n<|user|>\n Hi <|end|>\n<|assistant|>\nHello.<|end|>\n<|user|>\nBye<|end|>\n<|assistant|>\n"},
		{"gemma", "<start_of_turn> {% if", chatGemma,
			"<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello.<end_of_turn>\n<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := RenderChatTemplate(tc.template, msgs, true, "", ""); err == nil {
				t.Fatalf("template %q unexpectedly renders", tc.template)
			}
			f, ok := detectChatFormat(tc.template)
			if !ok || f != tc.format {
				t.Fatalf("detected %v %v, want %v", f, ok, tc.format)
			}
			tok := &Tokenizer{chatTemplate: tc.template, bos: noToken, eos: noToken}
			got, err := tok.ApplyChatTemplate(msgs, true)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
	tok := &Tokenizer{chatTemplate: "{% for %}", bos: noToken, eos: noToken}
	if _, err := tok.ApplyChatTemplate(msgs, true); err == nil || !strings.Contains(err.Error(), "no built-in format") {
		t.Errorf("unrecognised broken template: err = %v", err)
	}
}

impl < __Context > :: bincode :: Decode < __Context > for LedgerEvent
{
    fn decode < __D : :: bincode :: de :: Decoder < Context = __Context > >
    (decoder : & mut __D) ->core :: result :: Result < Self, :: bincode ::
    error :: DecodeError >
    {
        core :: result :: Result ::
        Ok(Self
        {
            id : :: bincode :: Decode :: decode(decoder) ?, kind : :: bincode
            :: Decode :: decode(decoder) ?, log_index : :: bincode :: Decode
            :: decode(decoder) ?, height : :: bincode :: Decode ::
            decode(decoder) ?, time_ms : :: bincode :: Decode ::
            decode(decoder) ?, tx_id : :: bincode :: Decode :: decode(decoder)
            ?, tx_index : :: bincode :: Decode :: decode(decoder) ?, signer :
            :: bincode :: Decode :: decode(decoder) ?, signer_org : :: bincode
            :: Decode :: decode(decoder) ?, memo : :: bincode :: Decode ::
            decode(decoder) ?, org : :: bincode :: Decode :: decode(decoder)
            ?, pool : :: bincode :: Decode :: decode(decoder) ?, token : ::
            bincode :: Decode :: decode(decoder) ?, member : :: bincode ::
            Decode :: decode(decoder) ?, store : :: bincode :: Decode ::
            decode(decoder) ?, channel : :: bincode :: Decode ::
            decode(decoder) ?, amounts : :: bincode :: Decode ::
            decode(decoder) ?, pool_seq : :: bincode :: Decode ::
            decode(decoder) ?, token_seq : :: bincode :: Decode ::
            decode(decoder) ?, detail : :: bincode :: Decode ::
            decode(decoder) ?,
        })
    }
} impl < '__de, __Context > :: bincode :: BorrowDecode < '__de, __Context >
for LedgerEvent
{
    fn borrow_decode < __D : :: bincode :: de :: BorrowDecoder < '__de,
    Context = __Context > > (decoder : & mut __D) ->core :: result :: Result <
    Self, :: bincode :: error :: DecodeError >
    {
        core :: result :: Result ::
        Ok(Self
        {
            id : :: bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?, kind : :: bincode :: BorrowDecode ::<
            '_, __Context >:: borrow_decode(decoder) ?, log_index : :: bincode
            :: BorrowDecode ::< '_, __Context >:: borrow_decode(decoder) ?,
            height : :: bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?, time_ms : :: bincode :: BorrowDecode ::<
            '_, __Context >:: borrow_decode(decoder) ?, tx_id : :: bincode ::
            BorrowDecode ::< '_, __Context >:: borrow_decode(decoder) ?,
            tx_index : :: bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?, signer : :: bincode :: BorrowDecode ::<
            '_, __Context >:: borrow_decode(decoder) ?, signer_org : ::
            bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?, memo : :: bincode :: BorrowDecode ::<
            '_, __Context >:: borrow_decode(decoder) ?, org : :: bincode ::
            BorrowDecode ::< '_, __Context >:: borrow_decode(decoder) ?, pool
            : :: bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?, token : :: bincode :: BorrowDecode ::<
            '_, __Context >:: borrow_decode(decoder) ?, member : :: bincode ::
            BorrowDecode ::< '_, __Context >:: borrow_decode(decoder) ?, store
            : :: bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?, channel : :: bincode :: BorrowDecode ::<
            '_, __Context >:: borrow_decode(decoder) ?, amounts : :: bincode
            :: BorrowDecode ::< '_, __Context >:: borrow_decode(decoder) ?,
            pool_seq : :: bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?, token_seq : :: bincode :: BorrowDecode
            ::< '_, __Context >:: borrow_decode(decoder) ?, detail : ::
            bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?,
        })
    }
}